"""The pieces behind the dashboard, the metrics and the CLI, without servers: the traffic ring,
the maintenance jobs' metrics, the fill bars and the job progress bar that every job draws."""

import asyncio
import io
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from s3lite.console import JobBar, fill_bar, follow, format_bytes
from s3lite.gateway.metrics import GatewayMetrics
from s3lite.gateway.traffic import TrafficHistory
from s3lite.progress import Progress


def test_traffic_is_summed_per_slot_and_quiet_slots_read_as_zero():
    traffic = TrafficHistory(slot_seconds=10, slots=4)
    traffic.record(1000.0, 100, 5)
    traffic.record(1009.9, 50, 0)
    traffic.record(1025.0, 0, 7)
    assert traffic.recent(1031.0) == [
        {"start": 1000, "requests": 2, "bytes_in": 150, "bytes_out": 5},
        {"start": 1010, "requests": 0, "bytes_in": 0, "bytes_out": 0},
        {"start": 1020, "requests": 1, "bytes_in": 0, "bytes_out": 7},
        {"start": 1030, "requests": 0, "bytes_in": 0, "bytes_out": 0},
    ]
    traffic.record(1045.0, 1, 1)
    later = traffic.recent(1045.0)
    assert [(slot["start"], slot["requests"]) for slot in later] == [
        (1010, 0),
        (1020, 1),
        (1030, 0),
        (1040, 1),
    ]


def test_the_window_forgets_slots_older_than_it_keeps():
    traffic = TrafficHistory(slot_seconds=10, slots=3)
    for at in (0.0, 10.0, 20.0, 30.0):
        traffic.record(at, 1, 0)
    window = traffic.recent(30.0)
    assert [slot["start"] for slot in window] == [10, 20, 30]
    assert [slot["requests"] for slot in window] == [1, 1, 1]
    assert len(traffic.slots) == 3


def test_fill_bars_say_a_percentage_only_of_a_stated_capacity():
    assert fill_bar(0.5, of_capacity=True, width=10).plain == "█████░░░░░  50%"
    assert fill_bar(1.7, of_capacity=True, width=4).plain == "████ 100%"
    assert fill_bar(0.25, of_capacity=False, width=4).plain == "█░░░  rel"
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 GiB",
    ]


def test_a_job_bar_draws_a_progress_on_a_terminal_and_nothing_elsewhere():
    progress = Progress("repair")
    progress.start(items_total=10, bytes_total=4096)
    progress.advance(items=3, nbytes=3072)

    terminal = io.StringIO()
    with JobBar("repair", Console(file=terminal, force_terminal=True, width=100)) as bar:
        bar.show(progress)
    assert "repair" in terminal.getvalue()
    assert "3/10" in terminal.getvalue()
    assert "3.0 KiB" in terminal.getvalue()

    pipe = io.StringIO()
    with JobBar("repair", Console(file=pipe, force_terminal=False)) as bar:
        bar.show(progress)
    assert pipe.getvalue() == ""


def test_a_job_that_counts_only_bytes_gets_a_bar_of_bytes():
    progress = Progress("rebalance")
    progress.start(bytes_total=8 * 1024**2)
    progress.advance(nbytes=2 * 1024**2)
    terminal = io.StringIO()
    with JobBar("rebalancing", Console(file=terminal, force_terminal=True, width=120)) as bar:
        bar.show(progress)
    assert "2.0 MiB of 8.0 MiB" in terminal.getvalue()
    assert "25%" in terminal.getvalue()


@pytest.mark.gen_test(timeout=10)
async def test_follow_draws_a_round_to_its_end_and_answers_its_result():
    progress = Progress("repair")

    async def round_of_three() -> str:
        progress.start(items_total=3)
        for _ in range(3):
            await asyncio.sleep(0.05)
            progress.advance(items=1)
        progress.finish()
        return "ran"

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=100)
    assert await follow(round_of_three(), lambda: progress, "repairing", console) == "ran"
    assert "3/3" in terminal.getvalue()


def test_the_jobs_metrics_come_from_their_progress_and_count_bytes_across_rounds():
    repairer = SimpleNamespace(progress=Progress("repair"))
    metrics = GatewayMetrics()
    metrics.follow_jobs(SimpleNamespace(repairer=repairer))  # this gateway runs no rebalancer
    for moved in (300, 50):
        repairer.progress.start(items_total=4, bytes_total=1000)
        repairer.progress.advance(items=1, nbytes=moved)
    exported = {
        (sample.name, tuple(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }
    repair = (("job", "repair"),)
    assert exported[("s3lite_maintenance_moved_bytes_total", repair)] == 350
    assert exported[("s3lite_maintenance_running", repair)] == 1
    assert exported[("s3lite_maintenance_queue_items", repair)] == 3
    assert exported[("s3lite_maintenance_queue_bytes", repair)] == 950
    assert not [name for name, labels in exported if labels == (("job", "rebalance"),)]
