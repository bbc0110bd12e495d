"""Tencent Cloud API errors, one class per dotted error code.

Every refusal the API gives is one of these classes, raised anywhere below the gateway
and turned into the error envelope by the serializer. A class carries the exact code the
official clients match on and a default message; callers pass a message that names the
offending parameter or resource. Nothing else in the project builds error dicts.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of every API-level error: ``code`` is the Tencent code, ``message`` the text."""

    code = "InternalError"
    default_message = "An internal error has occurred. Retry your request."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


def _error(code: str, default_message: str) -> type[ApiError]:
    name = code.replace(".", "")
    return type(name, (ApiError,), {"code": code, "default_message": default_message, "__doc__": default_message})


# Common errors (docs 214/33849).
ActionOffline = _error("ActionOffline", "This API has been deprecated.")
AuthFailureInvalidAuthorization = _error(
    "AuthFailure.InvalidAuthorization", "The Authorization header is not in the correct format."
)
AuthFailureInvalidSecretId = _error("AuthFailure.InvalidSecretId", "Invalid key (not a TencentCloud API key type).")
AuthFailureMFAFailure = _error("AuthFailure.MFAFailure", "MFA failed.")
AuthFailureSecretIdNotFound = _error(
    "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct."
)
AuthFailureSignatureExpire = _error(
    "AuthFailure.SignatureExpire",
    "Signature expired. Timestamp and server time cannot differ by more than five minutes.",
)
AuthFailureSignatureFailure = _error(
    "AuthFailure.SignatureFailure",
    "The provided credentials could not be validated. Please check your signature is correct.",
)
AuthFailureTokenFailure = _error("AuthFailure.TokenFailure", "The provided token is invalid.")
AuthFailureUnauthorizedOperation = _error("AuthFailure.UnauthorizedOperation", "The request is not authorized.")
DryRunOperation = _error("DryRunOperation", "The request would have succeeded, but the DryRun parameter was used.")
FailedOperation = _error("FailedOperation", "The operation failed.")
InternalError = _error("InternalError", "An internal error has occurred. Retry your request.")
InvalidAction = _error("InvalidAction", "The requested API does not exist.")
InvalidParameter = _error("InvalidParameter", "A parameter is invalid.")
InvalidParameterValue = _error("InvalidParameterValue", "A parameter value is invalid.")
InvalidRequest = _error("InvalidRequest", "The request body format is invalid.")
LimitExceeded = _error("LimitExceeded", "The quota limit has been reached.")
MissingParameter = _error("MissingParameter", "A required parameter is missing.")
NoSuchProduct = _error("NoSuchProduct", "The requested product does not exist.")
NoSuchVersion = _error("NoSuchVersion", "The requested API version does not exist.")
RequestLimitExceeded = _error("RequestLimitExceeded", "Your current request rate exceeds the limit.")
RequestSizeLimitExceeded = _error("RequestSizeLimitExceeded", "The request size exceeds the limit.")
ResourceInUse = _error("ResourceInUse", "The resource is in use.")
ResourceInsufficient = _error("ResourceInsufficient", "Insufficient resources.")
ResourceNotFound = _error("ResourceNotFound", "The resource does not exist.")
ResourceUnavailable = _error("ResourceUnavailable", "The resource is unavailable.")
ServiceUnavailable = _error("ServiceUnavailable", "The service is temporarily unavailable.")
UnauthorizedOperation = _error("UnauthorizedOperation", "Unauthorized operation.")
UnknownParameter = _error("UnknownParameter", "An unknown parameter was passed.")
UnsupportedOperation = _error("UnsupportedOperation", "The operation is not supported.")
UnsupportedProtocol = _error("UnsupportedProtocol", "The HTTP(S) request protocol is invalid.")
UnsupportedRegion = _error("UnsupportedRegion", "The API does not support this region.")

# Errors of the neighbouring services openclb answers (the errorcodes.py of
# tencentcloud-sdk-python-vpc, -tag, -ssl, -sts).
InvalidParameterCoexist = _error("InvalidParameter.Coexist", "The parameters cannot be specified at the same time.")
InvalidParameterFilterInvalidKey = _error("InvalidParameter.FilterInvalidKey", "The filter does not exist.")
InvalidParameterValueAddressIdMalformed = _error("InvalidParameterValue.AddressIdMalformed", "The address ID is invalid.")
InvalidParameterPaginationTokenInvalid = _error("InvalidParameter.PaginationTokenInvalid", "Invalid PaginationToken.")
InvalidParameterUnsupportedService = _error("InvalidParameter.UnsupportedService", "The service does not support tags.")
InvalidParameterValueDeleteTagsParamError = _error(
    "InvalidParameterValue.DeleteTagsParamError", "DeleteTags cannot contain keys of ReplaceTags.")
InvalidParameterValueOffsetInvalid = _error("InvalidParameterValue.OffsetInvalid", "Invalid offset.")
InvalidParameterValueRegionInvalid = _error("InvalidParameterValue.RegionInvalid", "Invalid region.")
InvalidParameterValueReservedTagKey = _error("InvalidParameterValue.ReservedTagKey", "Reserved tag keys cannot be used.")
InvalidParameterValueResourceDescriptionError = _error(
    "InvalidParameterValue.ResourceDescriptionError", "Invalid resource description.")
InvalidParameterValueResourceIdInvalid = _error("InvalidParameterValue.ResourceIdInvalid", "Invalid resource ID.")
InvalidParameterValueResourcePrefixInvalid = _error(
    "InvalidParameterValue.ResourcePrefixInvalid", "Invalid resource prefix.")
InvalidParameterValueServiceTypeInvalid = _error("InvalidParameterValue.ServiceTypeInvalid", "Invalid service type.")
InvalidParameterValueTagFilters = _error("InvalidParameterValue.TagFilters", "Invalid TagFilters.")
InvalidParameterValueTagFiltersLengthExceeded = _error(
    "InvalidParameterValue.TagFiltersLengthExceeded", "Too many TagFilters.")
InvalidParameterValueTagKeyCharacterIllegal = _error(
    "InvalidParameterValue.TagKeyCharacterIllegal", "The tag key contains illegal characters.")
InvalidParameterValueTagKeyDuplicate = _error("InvalidParameterValue.TagKeyDuplicate", "Duplicate tag key.")
InvalidParameterValueTagKeyEmpty = _error("InvalidParameterValue.TagKeyEmpty", "The tag key cannot be empty.")
InvalidParameterValueTagKeyLengthExceeded = _error(
    "InvalidParameterValue.TagKeyLengthExceeded", "The tag key is too long.")
InvalidParameterValueTagValueCharacterIllegal = _error(
    "InvalidParameterValue.TagValueCharacterIllegal", "The tag value contains illegal characters.")
InvalidParameterValueTagValueLengthExceeded = _error(
    "InvalidParameterValue.TagValueLengthExceeded", "The tag value is too long.")
InvalidParameterValueUinInvalid = _error("InvalidParameterValue.UinInvalid", "Invalid uin.")
FailedOperationCertificateInvalid = _error("FailedOperation.CertificateInvalid", "The certificate is invalid.")
FailedOperationCertificateMismatch = _error(
    "FailedOperation.CertificateMismatch", "The certificate and the private key do not match.")
FailedOperationCertificateNotFound = _error("FailedOperation.CertificateNotFound", "The certificate does not exist.")
FailedOperationCertificateParseError = _error("FailedOperation.CertificateParseError", "The certificate could not be parsed.")
FailedOperationDeleteResourceFailed = _error(
    "FailedOperation.DeleteResourceFailed", "The certificate is bound to cloud resources and cannot be deleted.")
FailedOperationResourceTagProcessing = _error(
    "FailedOperation.ResourceTagProcessing", "The resource's tags are being processed.")
LimitExceededResourceAttachedTags = _error(
    "LimitExceeded.ResourceAttachedTags", "The resource is bound to too many tags.")
LimitExceededResourceNumPerRequest = _error("LimitExceeded.ResourceNumPerRequest", "Too many resources in one request.")
LimitExceededTagNumPerRequest = _error("LimitExceeded.TagNumPerRequest", "Too many tags in one request.")

# CLB-specific errors (tencentcloud-sdk-python-clb errorcodes.py).
FailedOperationInvalidLBStatus = _error("FailedOperation.InvalidLBStatus", "The CLB instance status is abnormal.")
FailedOperationNoListenerInLB = _error("FailedOperation.NoListenerInLB", "The CLB instance has no listener.")
FailedOperationResourceInOperating = _error(
    "FailedOperation.ResourceInOperating", "The specified resource is being operated on. Please try again later."
)
InvalidParameterFormatError = _error("InvalidParameter.FormatError", "Wrong parameter format.")
InvalidParameterInvalidFilter = _error("InvalidParameter.InvalidFilter", "Invalid filter.")
InvalidParameterLBIdNotFound = _error("InvalidParameter.LBIdNotFound", "LoadBalancer not exist.")
InvalidParameterListenerIdNotFound = _error("InvalidParameter.ListenerIdNotFound", "Listener not found.")
InvalidParameterLocationNotFound = _error("InvalidParameter.LocationNotFound", "Forwarding rule not found.")
InvalidParameterPortCheckFailed = _error("InvalidParameter.PortCheckFailed", "Listener port check failed.")
InvalidParameterProtocolCheckFailed = _error("InvalidParameter.ProtocolCheckFailed", "Listener protocol check failed.")
InvalidParameterRegionNotFound = _error("InvalidParameter.RegionNotFound", "Invalid region.")
InvalidParameterRewriteAlreadyExist = _error("InvalidParameter.RewriteAlreadyExist", "The rewrite already exists.")
InvalidParameterSomeRewriteNotFound = _error("InvalidParameter.SomeRewriteNotFound", "Some rewrites were not found.")
InvalidParameterCombination = _error("InvalidParameterCombination", "Invalid parameter combination.")
InvalidParameterValueDuplicate = _error("InvalidParameterValue.Duplicate", "Duplicate parameter value.")
InvalidParameterValueInvalidFilter = _error("InvalidParameterValue.InvalidFilter", "Invalid filter value.")
InvalidParameterValueLength = _error("InvalidParameterValue.Length", "Wrong parameter length.")
InvalidParameterValueRange = _error("InvalidParameterValue.Range", "Parameter value out of range.")


def by_code(code: str) -> type[ApiError] | None:
    """The class of a dotted Tencent code defined here (``RequestLimitExceeded`` → its class), or None."""
    found = globals().get(code.replace(".", ""))
    if isinstance(found, type) and issubclass(found, ApiError) and found is not ApiError and found.code == code:
        return found
    return None


def known_codes() -> list[str]:
    """Every code defined here, sorted."""
    return sorted(value.code for value in globals().values()
                  if isinstance(value, type) and issubclass(value, ApiError) and value is not ApiError)

# vpc security groups (tencentcloud-sdk-python-vpc errorcodes.py).
InvalidSecurityGroupIDMalformed = _error("InvalidSecurityGroupID.Malformed", "The security group ID is malformed.")
InvalidSecurityGroupIDNotFound = _error("InvalidSecurityGroupID.NotFound", "The security group does not exist.")
InvalidParameterValueMalformed = _error("InvalidParameterValue.Malformed", "The parameter value is malformed.")
InvalidParameterValueTooLong = _error("InvalidParameterValue.TooLong", "The parameter value is too long.")
LimitExceededSecurityGroupPolicySet = _error(
    "LimitExceeded.SecurityGroupPolicySet", "The number of security group policies exceeds the limit.")
UnsupportedOperationDuplicatePolicy = _error("UnsupportedOperation.DuplicatePolicy", "The policy already exists.")
UnsupportedOperationVersionMismatch = _error(
    "UnsupportedOperation.VersionMismatch", "The policy version does not match the current version.")
