"""The object API: Amazon S3, path style. Handlers stay thin; the work is in the services."""

from s3lite.gateway.api.buckets import BucketHandler
from s3lite.gateway.api.objects import ObjectHandler
from s3lite.gateway.api.s3_base import OWNER, S3Handler
from s3lite.gateway.services import GatewayServices
from s3lite.s3 import xml
from s3lite.s3.router import Operation


class ServiceHandler(S3Handler):
    def actions(self):
        return {Operation.LIST_BUCKETS: self.list_buckets}

    async def list_buckets(self):
        buckets = await self.services.metadata.list_buckets()
        self.write_xml(xml.list_buckets_xml(buckets, *OWNER))


def routes(services: GatewayServices) -> list:
    dependencies = {"services": services}
    return [
        (r"/", ServiceHandler, dependencies),
        (r"/([^/]+)/?", BucketHandler, dependencies),
        (r"/([^/]+)/(.+)", ObjectHandler, dependencies),
    ]
