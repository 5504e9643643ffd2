"""ListAliases' predefined names come from the key sets that exist, not from a second list."""

from kms_core.operations.aliases import PREDEFINED_ALIASES
from kms_core.service_keys import PREDEFINED_KEY_SETS, SERVED_HERE
from paramstore.secrets.envelope import SECRETS_KEYS
from paramstore.ssm.envelope import SSM_KEYS


def test_the_services_served_here_are_the_ones_that_register_key_sets():
    assert set(SERVED_HERE) == {SSM_KEYS.service, SECRETS_KEYS.service}


def test_every_predefined_alias_has_a_key_set_and_the_list_is_sorted():
    services = {name.removeprefix("alias/aws/") for name in PREDEFINED_ALIASES}
    assert services == set(PREDEFINED_KEY_SETS) | set(SERVED_HERE)
    assert list(PREDEFINED_ALIASES) == sorted(PREDEFINED_ALIASES) and len(PREDEFINED_ALIASES) == 14
