"""Settings: where each value comes from, what a node computes, and how a bad one is reported."""

import subprocess
import sys

import pytest

from s3lite.config import ConfigError, GatewayConfig, NodeConfig, load
from tests.processes import REPO_ROOT, clean_environment, free_port

TOKEN = {"cluster_token": "secret"}


@pytest.fixture
def config_file(tmp_path):
    """Write an INI config file and answer its path."""

    def write(text: str) -> str:
        path = tmp_path / "s3lite.conf"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


# Precedence: flag, then environment, then file, then default.


def test_a_flag_beats_the_environment_and_the_file(config_file):
    path = config_file("[gateway]\nport = 1111\n")
    config = load(GatewayConfig, {"port": "3333", "config": path, **TOKEN}, {"S3LITE_PORT": "2222"})
    assert config.port == 3333


def test_the_environment_beats_the_file(config_file):
    path = config_file("[gateway]\nport = 1111\n")
    config = load(GatewayConfig, {"config": path, **TOKEN}, {"S3LITE_PORT": "2222"})
    assert config.port == 2222


def test_the_file_beats_the_default(config_file):
    path = config_file("[gateway]\nport = 1111\n")
    assert load(GatewayConfig, {"config": path, **TOKEN}, {}).port == 1111


def test_defaults_fill_what_nobody_set():
    config = load(GatewayConfig, TOKEN, {})
    assert (config.host, config.port, config.mongo_uri, config.db) == (
        "127.0.0.1",
        8000,
        "mongodb://127.0.0.1:27017",
        "s3lite",
    )
    assert config.access_key is None and config.secret_key is None


def test_the_config_file_can_come_from_the_environment(config_file):
    path = config_file("[gateway]\ndb = from_file\n")
    config = load(GatewayConfig, TOKEN, {"S3LITE_CONFIG": path})
    assert config.db == "from_file"


def test_the_config_flag_beats_the_config_environment_variable(config_file, tmp_path):
    other = tmp_path / "other.conf"
    other.write_text("[gateway]\ndb = from_other_file\n", encoding="utf-8")
    path = config_file("[gateway]\ndb = from_flag_file\n")
    config = load(GatewayConfig, {"config": path, **TOKEN}, {"S3LITE_CONFIG": str(other)})
    assert config.db == "from_flag_file"


def test_each_role_reads_only_its_own_section(config_file):
    path = config_file("[gateway]\nport = 1111\n\n[node]\nport = 2222\n")
    assert load(GatewayConfig, {"config": path, **TOKEN}, {}).port == 1111
    assert load(NodeConfig, {"config": path, **TOKEN}, {}).port == 2222


def test_file_options_may_be_spelled_with_dashes(config_file):
    path = config_file("[node]\nmongo-uri = mongodb://127.0.0.1:9999\ncapacity-bytes = 1_000\n")
    config = load(NodeConfig, {"config": path, **TOKEN}, {})
    assert config.mongo_uri == "mongodb://127.0.0.1:9999"
    assert config.capacity_bytes == 1000


def test_an_empty_environment_variable_counts_as_unset(config_file):
    path = config_file("[gateway]\ndb = from_file\n")
    config = load(GatewayConfig, {"config": path, **TOKEN}, {"S3LITE_DB": ""})
    assert config.db == "from_file"


def test_the_cluster_token_can_come_from_the_environment():
    config = load(NodeConfig, {}, {"S3LITE_CLUSTER_TOKEN": "from-env"})
    assert config.cluster_token == "from-env"


def test_numbers_are_typed():
    config = load(NodeConfig, {"heartbeat_seconds": "0.25", "capacity_bytes": "42", **TOKEN}, {})
    assert config.heartbeat_seconds == 0.25
    assert config.capacity_bytes == 42


# A node's computed defaults.


def test_a_node_advertises_its_own_host_and_port_by_default():
    config = load(NodeConfig, {"host": "127.0.0.5", "port": "8123", **TOKEN}, {})
    assert config.advertise_url == "http://127.0.0.5:8123"


def test_a_node_names_its_database_after_its_port_by_default():
    assert load(NodeConfig, {"port": "8123", **TOKEN}, {}).db == "s3lite_node_8123"
    assert load(NodeConfig, TOKEN, {}).db == "s3lite_node_8101"


def test_computed_defaults_follow_a_port_from_the_environment():
    config = load(NodeConfig, TOKEN, {"S3LITE_PORT": "8200"})
    assert (config.advertise_url, config.db) == ("http://127.0.0.1:8200", "s3lite_node_8200")


def test_explicit_values_replace_the_computed_defaults():
    config = load(
        NodeConfig,
        {"port": "8123", "advertise_url": "http://node7.example:80", "db": "parts7", **TOKEN},
        {},
    )
    assert (config.advertise_url, config.db) == ("http://node7.example:80", "parts7")


# Every validation error names its setting.


@pytest.mark.parametrize(
    ("config_class", "flags", "setting"),
    [
        (GatewayConfig, {}, "--cluster-token"),
        (NodeConfig, {}, "--cluster-token"),
        (GatewayConfig, {"port": "abc", **TOKEN}, "--port"),
        (GatewayConfig, {"port": "0", **TOKEN}, "--port"),
        (NodeConfig, {"port": "65536", **TOKEN}, "--port"),
        (GatewayConfig, {"db_connect_seconds": "-1", **TOKEN}, "--db-connect-seconds"),
        (NodeConfig, {"db_connect_seconds": "soon", **TOKEN}, "--db-connect-seconds"),
        (GatewayConfig, {"access_key": "AK", **TOKEN}, "--secret-key"),
        (GatewayConfig, {"secret_key": "SK", **TOKEN}, "--access-key"),
        (GatewayConfig, {"host": "0.0.0.0", **TOKEN}, "--host"),
        (GatewayConfig, {"host": "192.168.1.10", **TOKEN}, "--host"),
        (GatewayConfig, {"max_object_size": "-1", **TOKEN}, "--max-object-size"),
        (
            GatewayConfig,
            {"down_after_missed_heartbeats": "0", **TOKEN},
            "--down-after-missed-heartbeats",
        ),
        (GatewayConfig, {"retry_deletes_seconds": "0", **TOKEN}, "--retry-deletes-seconds"),
        (GatewayConfig, {"delete_delay_seconds": "-1", **TOKEN}, "--delete-delay-seconds"),
        (GatewayConfig, {"idle_timeout_seconds": "0", **TOKEN}, "--idle-timeout-seconds"),
        (GatewayConfig, {"body_timeout_seconds": "-1", **TOKEN}, "--body-timeout-seconds"),
        (NodeConfig, {"advertise_url": "node1:8101", **TOKEN}, "--advertise-url"),
        (NodeConfig, {"gateway_url": "ftp://127.0.0.1:8000", **TOKEN}, "--gateway-url"),
        (NodeConfig, {"capacity_bytes": "-5", **TOKEN}, "--capacity-bytes"),
        (NodeConfig, {"capacity_bytes": "lots", **TOKEN}, "--capacity-bytes"),
        (NodeConfig, {"heartbeat_seconds": "0", **TOKEN}, "--heartbeat-seconds"),
        (NodeConfig, {"chunk_size_bytes": "100", **TOKEN}, "--chunk-size-bytes"),
        (NodeConfig, {"chunk_size_bytes": str(16 * 1024 * 1024), **TOKEN}, "--chunk-size-bytes"),
    ],
)
def test_a_bad_setting_is_named_in_the_error(config_class, flags, setting):
    with pytest.raises(ConfigError) as raised:
        load(config_class, flags, {})
    assert str(raised.value).startswith(f"setting {setting}:")


def test_a_bad_value_from_the_environment_is_named_by_its_setting():
    with pytest.raises(ConfigError, match=r"^setting --port: 'http' is not a whole number"):
        load(NodeConfig, TOKEN, {"S3LITE_PORT": "http"})


def test_an_unknown_option_in_the_file_is_named(config_file):
    path = config_file("[gateway]\nprot = 8000\n")
    with pytest.raises(ConfigError, match=r"^setting prot: unknown option"):
        load(GatewayConfig, {"config": path, **TOKEN}, {})


def test_an_unreadable_config_file_is_named(tmp_path):
    missing = tmp_path / "missing.conf"
    with pytest.raises(ConfigError, match=r"^setting config: cannot read .*missing\.conf"):
        load(GatewayConfig, {"config": str(missing), **TOKEN}, {})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_a_gateway_without_keys_may_listen_on_loopback(host):
    assert load(GatewayConfig, {"host": host, **TOKEN}, {}).host == host


def test_a_gateway_with_keys_may_listen_anywhere():
    flags = {"host": "0.0.0.0", "access_key": "AK", "secret_key": "SK", **TOKEN}
    assert load(GatewayConfig, flags, {}).host == "0.0.0.0"


# The command line, as a user runs it.


def run_s3lite(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s3lite", *args],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (["node"], "--cluster-token"),
        (["gateway"], "--cluster-token"),
        (["node", "--cluster-token", "t", "--port", "abc"], "--port"),
        (["gateway", "--cluster-token", "t", "--port", "abc"], "--port"),
        (["gateway", "--cluster-token", "t", "--host", "0.0.0.0"], "--host"),
        (["node", "--cluster-token", "t", "--heartbeat-seconds", "-1"], "--heartbeat-seconds"),
    ],
)
def test_the_command_exits_with_one_line_naming_the_bad_setting(args, setting):
    result = run_s3lite(*args)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"s3lite {args[0]}: setting {setting}:")


@pytest.mark.parametrize("role", ["node", "gateway"])
def test_the_command_reports_an_unreachable_database_by_its_setting(role):
    closed = f"mongodb://127.0.0.1:{free_port()}"
    result = run_s3lite(
        role,
        "--cluster-token",
        "t",
        "--port",
        str(free_port()),
        "--mongo-uri",
        closed,
        "--db-connect-seconds",
        "1",
    )
    assert result.returncode != 0
    last_line = result.stderr.splitlines()[-1]
    assert last_line.startswith(f"s3lite {role}: setting --mongo-uri:")
    assert closed in last_line


# The rebalancer's settings.


def test_the_rebalancer_is_on_by_default_and_turns_off_as_a_switch(config_file):
    defaults = load(GatewayConfig, TOKEN, {})
    assert defaults.rebalance is True and defaults.rebalance_target_spread == 0.02
    assert load(GatewayConfig, TOKEN, {"S3LITE_REBALANCE": "off"}).rebalance is False
    path = config_file("[gateway]\nrebalance = no\n")
    assert load(GatewayConfig, {"config": path, **TOKEN}, {}).rebalance is False
    assert load(GatewayConfig, {"rebalance": "On", **TOKEN}, {}).rebalance is True


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"rebalance": "maybe"}, "--rebalance: 'maybe' is not on or off"),
        ({"rebalance_target_spread": "0"}, "--rebalance-target-spread"),
        ({"rebalance_target_spread": "1.5"}, "--rebalance-target-spread"),
        ({"rebalance_bytes_per_second": "0"}, "--rebalance-bytes-per-second"),
    ],
)
def test_a_bad_rebalancer_setting_is_named(flags, named):
    with pytest.raises(ConfigError, match=named):
        load(GatewayConfig, {**flags, **TOKEN}, {})
