"""The layers, as import contracts (docs/architecture.md).  Imports inside functions count:
a layer broken by a late import is still broken."""

from __future__ import annotations

import sys

from tests.architecture.imports import graph, within

STORAGE = ("kms_core.storage", "paramstore.ssm.storage", "paramstore.secrets.storage", "migrations")
SQL = ("sqlmodel", "sqlalchemy", "alembic")
#: what the Parameter Store may use of the KMS core
SSM_MAY_USE = ("kms_core.port", "kms_core.domain", "kms_core.protocol")
#: and its storage package, of the KMS core's storage: the database, its transactions, and
#: the audit record each one carries
SSM_STORAGE_MAY_ALSO_USE = ("kms_core.storage", "kms_core.audit")
#: Secrets Manager: the same, plus the policy engine (a secret's resource policy is
#: evaluated like a key policy) and the KMS error a malformed policy raises
SECRETS_MAY_USE = SSM_MAY_USE + ("kms_core.policy", "kms_core.errors")
#: the modules that write the service's own changes (deletions, rotations) and their records
SECRETS_WRITERS = ("paramstore.secrets.storage", "paramstore.secrets.store", "paramstore.secrets.rotation.runner")

IMPORTS = graph()


def breaches(importers: tuple, imported: tuple, allowed_importers: tuple = (),
             imports: dict[str, set[str]] = IMPORTS) -> set[tuple[str, str]]:
    return {(module, target) for module, targets in imports.items()
            if within(module, *importers) and not within(module, *allowed_importers)
            for target in targets if within(target, *imported)}


# --- strict ---------------------------------------------------------------------------------
def test_the_kms_core_never_imports_the_parameter_store():
    assert breaches(("kms_core",), ("paramstore",)) == set()


def test_there_are_no_import_cycles():
    """Among the project's modules, imports inside functions included (a cycle broken by a
    late import is still a cycle in the design)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    edges = {m: {t for t in targets if t in IMPORTS and t != m} for m, targets in IMPORTS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            connect(module)
    assert cycles == []


def test_policy_evaluation_imports_no_storage():
    """Policy code evaluates what it is given: no tables, no sessions, no SQL."""
    assert breaches(("kms_core.policy",), ("kms_core.storage", "paramstore.ssm.storage",
                                           "paramstore.secrets.storage") + SQL) == set()


def test_the_parameter_store_reaches_kms_through_the_port_domain_and_protocol():
    """Its storage package may also use the KMS core's storage and audit (the database,
    its transactions, the record each one carries)."""
    found = {(m, t) for m, t in breaches(("paramstore.ssm",), ("kms_core",)) if not within(t, *SSM_MAY_USE)
             and not (within(m, "paramstore.ssm.storage") and within(t, *SSM_STORAGE_MAY_ALSO_USE))}
    assert found == set()


def test_only_the_storage_packages_and_migrations_speak_sql():
    """sqlmodel, sqlalchemy and alembic: the KMS core's and the Parameter Store's storage
    packages, and migrations/, and nothing else; not even for an annotation (a type from
    SQL in a signature is storage showing through)."""
    with_annotations = graph(type_checking=True)
    assert {module for module, _ in breaches(("kms_core", "paramstore"), SQL, STORAGE, with_annotations)} == set()


def test_the_parameter_store_speaks_sql_only_in_its_storage_package():
    assert {m for m, _ in breaches(("paramstore.ssm",), SQL, ("paramstore.ssm.storage",))} == set()


def test_secrets_manager_reaches_kms_through_the_port_domain_protocol_and_policy():
    found = {(m, t) for m, t in breaches(("paramstore.secrets",), ("kms_core",)) if not within(t, *SECRETS_MAY_USE)
             and not (within(m, *SECRETS_WRITERS) and within(t, *SSM_STORAGE_MAY_ALSO_USE))}
    assert found == set()


def test_secrets_manager_speaks_sql_only_in_its_storage_package():
    assert {m for m, _ in breaches(("paramstore.secrets",), SQL, ("paramstore.secrets.storage",))} == set()


def test_secret_values_reach_kms_only_through_the_port():
    found = {t for t in IMPORTS["paramstore.secrets.envelope"] if within(t, "kms_core")}
    assert found <= {"kms_core.port"}, found


def test_parameter_values_reach_kms_only_through_the_port():
    """The envelope (what the Parameter Store seals and opens) uses the KMS port alone."""
    found = {t for t in IMPORTS["paramstore.ssm.envelope"] if within(t, "kms_core")}
    assert found <= {"kms_core.port"}, found


def test_the_graph_is_read():
    """The contracts above would pass on an empty graph: make sure it isn't."""
    assert len(IMPORTS) > 100
    assert "kms_core.operations.crypto" in IMPORTS["kms_core.port"]
    assert "kms_core.port" in IMPORTS["paramstore.ssm.envelope"]
    assert "sqlmodel" in IMPORTS["kms_core.storage.session"]
