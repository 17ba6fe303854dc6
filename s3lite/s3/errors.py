"""Which HTTP status and S3 error code each domain exception becomes on the object API.

Storage code raises ``s3lite.errors`` exceptions and never speaks HTTP; this one table is the
only place they meet Amazon's error codes, so a client sees the code S3's documentation lists.

The refusals below are the protocol's own (signatures, ACLs, CORS): only the pure modules of
``s3lite.s3`` raise them, so they are defined here, beside their codes.
"""

from s3lite import errors


class RequestExpired(errors.AccessDenied):
    """Request has expired"""


class AccessForbidden(errors.S3liteError):
    """CORSResponse: This CORS request is not allowed."""


class BadRequest(errors.S3liteError):
    """Bad Request"""


class NoSuchCORSConfiguration(errors.S3liteError):
    """The CORS configuration does not exist"""


class MissingRequestBody(errors.S3liteError):
    """Request Body is empty"""


class MalformedACLError(errors.S3liteError):
    """The XML you provided was not well-formed or did not validate against our published
    schema"""


class MissingSecurityHeader(errors.S3liteError):
    """Your request was missing a required header"""


class UnexpectedContent(errors.S3liteError):
    """This request does not support content"""


class UnresolvableGrantByEmailAddress(errors.S3liteError):
    """The e-mail address you provided does not match any account on record."""


S3_ERRORS: dict[type, tuple[int, str]] = {
    errors.NoSuchBucket: (404, "NoSuchBucket"),
    errors.BucketAlreadyOwnedByYou: (409, "BucketAlreadyOwnedByYou"),
    errors.BucketNotEmpty: (409, "BucketNotEmpty"),
    errors.InvalidBucketName: (400, "InvalidBucketName"),
    errors.NoSuchKey: (404, "NoSuchKey"),
    errors.KeyTooLong: (400, "KeyTooLongError"),
    errors.InvalidKey: (400, "InvalidArgument"),
    errors.EntityTooLarge: (400, "EntityTooLarge"),
    errors.MissingContentLength: (411, "MissingContentLength"),
    errors.IncompleteBody: (400, "IncompleteBody"),
    errors.BadDigest: (400, "BadDigest"),
    errors.InvalidDigest: (400, "InvalidDigest"),
    errors.InvalidRange: (416, "InvalidRange"),
    errors.RequestTimeout: (400, "RequestTimeout"),
    errors.InvalidArgument: (400, "InvalidArgument"),
    errors.MethodNotAllowed: (405, "MethodNotAllowed"),
    errors.InvalidRequest: (400, "InvalidRequest"),
    errors.NotImplementedYet: (501, "NotImplemented"),
    errors.InsufficientNodes: (503, "ServiceUnavailable"),
    errors.NodeUnavailable: (503, "ServiceUnavailable"),
    errors.DatabaseUnavailable: (503, "ServiceUnavailable"),
    errors.PartCorrupted: (500, "InternalError"),
    errors.AccessDenied: (403, "AccessDenied"),
    errors.InvalidAccessKeyId: (403, "InvalidAccessKeyId"),
    errors.SignatureDoesNotMatch: (403, "SignatureDoesNotMatch"),
    errors.RequestTimeTooSkewed: (403, "RequestTimeTooSkewed"),
    errors.AuthorizationHeaderMalformed: (400, "AuthorizationHeaderMalformed"),
    errors.ContentSha256Mismatch: (400, "XAmzContentSHA256Mismatch"),
    errors.NoSuchUpload: (404, "NoSuchUpload"),
    errors.InvalidPart: (400, "InvalidPart"),
    errors.InvalidPartOrder: (400, "InvalidPartOrder"),
    errors.EntityTooSmall: (400, "EntityTooSmall"),
    errors.MalformedXML: (400, "MalformedXML"),
    errors.MaxMessageLengthExceeded: (400, "MaxMessageLengthExceeded"),
    errors.InvalidURI: (400, "InvalidURI"),
    errors.PreconditionFailed: (412, "PreconditionFailed"),
    errors.NotModified: (304, "NotModified"),
    RequestExpired: (403, "AccessDenied"),
    AccessForbidden: (403, "AccessForbidden"),
    BadRequest: (400, "BadRequest"),
    NoSuchCORSConfiguration: (404, "NoSuchCORSConfiguration"),
    MissingRequestBody: (400, "MissingRequestBodyError"),
    MalformedACLError: (400, "MalformedACLError"),
    MissingSecurityHeader: (400, "MissingSecurityHeader"),
    UnexpectedContent: (400, "UnexpectedContent"),
    UnresolvableGrantByEmailAddress: (400, "UnresolvableGrantByEmailAddress"),
}

INTERNAL_ERROR = (500, "InternalError")


def s3_status_and_code(error: Exception) -> tuple[int, str]:
    """Return the (status, code) for ``error``, found through its class's MRO.

    Walking the MRO lets a subclass of a mapped exception inherit its code; anything unknown is
    a bug as far as the client is concerned, hence InternalError.
    """
    for cls in type(error).__mro__:
        if cls in S3_ERRORS:
            return S3_ERRORS[cls]
    return INTERNAL_ERROR
