"""Domain exceptions of s3lite.

Storage, placement and metadata code raise these and never speak HTTP; the edges turn them into
S3 XML errors (``s3lite.s3.errors``) or JSON cluster errors (``s3lite.web``).
"""


class S3liteError(Exception):
    """Base of every error that is the client's or the cluster's, not a bug."""

    def __init__(self, message: str = "", **details):
        super().__init__(message or self.__doc__)
        self.message = message or self.__doc__
        self.details = details


# Buckets and keys
class NoSuchBucket(S3liteError):
    """The specified bucket does not exist."""


class BucketAlreadyOwnedByYou(S3liteError):
    """The bucket you tried to create already exists, and you own it."""


class BucketNotEmpty(S3liteError):
    """The bucket you tried to delete is not empty."""


class InvalidBucketName(S3liteError):
    """The specified bucket is not valid."""


class NoSuchKey(S3liteError):
    """The specified key does not exist."""


class KeyTooLong(S3liteError):
    """Your key is too long."""


class InvalidKey(S3liteError):
    """The specified key is not valid."""


# Request bodies and headers
class EntityTooLarge(S3liteError):
    """Your proposed upload exceeds the maximum allowed object size."""


class MissingContentLength(S3liteError):
    """You must provide the Content-Length HTTP header."""


class IncompleteBody(S3liteError):
    """You did not provide the number of bytes specified by the Content-Length HTTP header."""


class BadDigest(S3liteError):
    """The Content-MD5 you specified did not match what was received."""


class InvalidDigest(S3liteError):
    """The Content-MD5 you specified is not valid."""


class RequestTimeout(S3liteError):
    """Your upload was idle for too long and has been abandoned."""


class InvalidRange(S3liteError):
    """The requested range is not satisfiable."""


class InvalidArgument(S3liteError):
    """Invalid Argument."""


class InvalidRequest(S3liteError):
    """The request is not valid."""


class MethodNotAllowed(S3liteError):
    """The specified method is not allowed against this resource."""


class NotImplementedYet(S3liteError):
    """A header or operation you provided implies functionality that is not implemented."""


# The cluster
class InsufficientNodes(S3liteError):
    """Fewer storage nodes can take a part than an object needs."""


class NodeUnavailable(S3liteError):
    """A storage node holding a needed part did not answer."""


class PartCorrupted(S3liteError):
    """A part's bytes do not match the size or SHA-256 recorded when it was stored."""


class DatabaseUnavailable(S3liteError):
    """The metadata database cannot be reached."""


class UnknownNode(S3liteError):
    """No node with this id was ever registered."""


class NodeUrlConflict(S3liteError):
    """Another live node is registered at this URL."""


class NoSuchPart(S3liteError):
    """The node holds no part with this id."""


class PartExists(S3liteError):
    """The node already holds a part with this id."""


class CannotListen(S3liteError):
    """The server cannot listen on its address."""


# Authentication (AWS Signature Version 4)
class AccessDenied(S3liteError):
    """Access Denied"""


class InvalidAccessKeyId(S3liteError):
    """The AWS access key Id you provided does not exist in our records."""


class SignatureDoesNotMatch(S3liteError):
    """The request signature we calculated does not match the signature you provided."""


class RequestTimeTooSkewed(S3liteError):
    """The difference between the request time and the current time is too large."""


class AuthorizationHeaderMalformed(S3liteError):
    """The authorization header is malformed."""


class ContentSha256Mismatch(S3liteError):
    """The provided 'x-amz-content-sha256' header does not match what was computed."""


# Multipart uploads
class NoSuchUpload(S3liteError):
    """The specified multipart upload does not exist."""


class InvalidPart(S3liteError):
    """One or more of the specified parts could not be found, or its ETag did not match."""


class InvalidPartOrder(S3liteError):
    """The list of parts was not in ascending order."""


class EntityTooSmall(S3liteError):
    """Your proposed upload is smaller than the minimum allowed object size."""


class MalformedXML(S3liteError):
    """The XML you provided was not well-formed or did not validate against our schema."""


class MaxMessageLengthExceeded(S3liteError):
    """Your request was too big."""


class InvalidURI(S3liteError):
    """Couldn't parse the specified URI."""


# Conditional requests
class PreconditionFailed(S3liteError):
    """At least one of the preconditions you specified did not hold."""


class NotModified(S3liteError):
    """Not Modified"""
