"""Named AWS KMS limits (developer guide, "Quotas" and the API reference)."""

MAX_PLAINTEXT_BYTES = 4096
MAX_CIPHERTEXT_BYTES = 6144
MIN_PENDING_WINDOW_DAYS = 7           # ScheduleKeyDeletion: 7..30, default 30
MAX_PENDING_WINDOW_DAYS = 30
DEFAULT_PENDING_WINDOW_DAYS = 30
MIN_ROTATION_PERIOD_DAYS = 90         # EnableKeyRotation: 90..2560, default 365
MAX_ROTATION_PERIOD_DAYS = 2560
DEFAULT_ROTATION_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25
MAX_ALIASES_PER_KEY = 50
MAX_TAGS_PER_KEY = 50
MAX_CUSTOMER_KEYS = 100_000
MAX_KEY_POLICY_BYTES = 32_768
DAY_SECONDS = 86_400
#: List defaults and maxima from the API reference (the model allows up to 1000 everywhere;
#: larger values are clamped rather than refused).
LIST_LIMITS = {
    "ListKeys": (100, 1000),
    "ListAliases": (50, 100),
    "ListResourceTags": (50, 50),
    "ListKeyPolicies": (100, 1000),
    "ListKeyRotations": (100, 1000),
    "ListGrants": (50, 100),
    "ListRetirableGrants": (50, 100),
}
