"""The KMS dispatch table: "TrentService.<Operation>" -> operation function.

Operation functions are the AWS name in snake_case, so a target greps straight to its code.
"""

from __future__ import annotations

from typing import Any, Callable

from kms_core.context import RequestContext
from kms_core.errors import DependencyTimeoutException, KMSInternalException
from kms_core.operations import (
    aliases,
    asymmetric,
    crypto,
    grants,
    imports,
    keys,
    multi_region,
    policies,
    rotation,
    tags,
)
from kms_core.protocol.awsjson import ServiceSpec
from kms_core.protocol.kms_model import OPERATIONS as KMS_SHAPES

TARGET_PREFIX = "TrentService"

HANDLERS: dict[str, Callable[[RequestContext, dict], dict]] = {
    "CreateKey": keys.create_key,
    "DescribeKey": keys.describe_key,
    "ListKeys": keys.list_keys,
    "UpdateKeyDescription": keys.update_key_description,
    "EnableKey": keys.enable_key,
    "DisableKey": keys.disable_key,
    "ScheduleKeyDeletion": keys.schedule_key_deletion,
    "CancelKeyDeletion": keys.cancel_key_deletion,
    "Encrypt": crypto.encrypt,
    "Decrypt": crypto.decrypt,
    "ReEncrypt": crypto.re_encrypt,
    "GenerateDataKey": crypto.generate_data_key,
    "GenerateDataKeyWithoutPlaintext": crypto.generate_data_key_without_plaintext,
    "GenerateRandom": crypto.generate_random,
    "Sign": asymmetric.sign,
    "Verify": asymmetric.verify,
    "GetPublicKey": asymmetric.get_public_key,
    "GenerateMac": asymmetric.generate_mac,
    "VerifyMac": asymmetric.verify_mac,
    "DeriveSharedSecret": asymmetric.derive_shared_secret,
    "GenerateDataKeyPair": asymmetric.generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext": asymmetric.generate_data_key_pair_without_plaintext,
    "CreateAlias": aliases.create_alias,
    "UpdateAlias": aliases.update_alias,
    "DeleteAlias": aliases.delete_alias,
    "ListAliases": aliases.list_aliases,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListResourceTags": tags.list_resource_tags,
    "EnableKeyRotation": rotation.enable_key_rotation,
    "DisableKeyRotation": rotation.disable_key_rotation,
    "GetKeyRotationStatus": rotation.get_key_rotation_status,
    "RotateKeyOnDemand": rotation.rotate_key_on_demand,
    "ListKeyRotations": rotation.list_key_rotations,
    "GetKeyPolicy": policies.get_key_policy,
    "PutKeyPolicy": policies.put_key_policy,
    "ListKeyPolicies": policies.list_key_policies,
    "CreateGrant": grants.create_grant,
    "ListGrants": grants.list_grants,
    "ListRetirableGrants": grants.list_retirable_grants,
    "RetireGrant": grants.retire_grant,
    "RevokeGrant": grants.revoke_grant,
    "GetParametersForImport": imports.get_parameters_for_import,
    "ImportKeyMaterial": imports.import_key_material,
    "DeleteImportedKeyMaterial": imports.delete_imported_key_material,
    "ReplicateKey": multi_region.replicate_key,
    "UpdatePrimaryRegion": multi_region.update_primary_region,
}


#: answered from the key cache once it is warm (the rest read or write the database)
INLINE_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify",
    "GetPublicKey", "DescribeKey", "GenerateRandom",
})


def kms_service(make_context: Callable[..., Any]) -> ServiceSpec:
    spec = ServiceSpec(TARGET_PREFIX, "kms", "kms.amazonaws.com", KMSInternalException, make_context,
                       timeout_error=DependencyTimeoutException, inline_operations=INLINE_OPERATIONS)
    for name, handler in HANDLERS.items():
        spec.add(name, handler, KMS_SHAPES[name])
    return spec
