"""The Postgres login role analyst audience SQL builds as (docs/audiences.md, "At run time").

dbt builds the sandboxed audience models in an invocation of their own, logged in as this role
(profiles.yml target `postgres_audience_sandbox`), so that SQL past the static check cannot leave
the role: `set role`, `reset role` and `set_config('role', …)` are checked against the session
user, which is the role itself. The build's own connection

* `ensure_role`: creates the role if missing, and refuses to go on unless it is a plain login role
  (no superuser, createrole, createdb, replication or bypassrls, member of no other role, no file
  function it may execute, nowhere to create objects but the schemas it is granted);
* `open_sandbox`: grants it exactly what the models read (usage on their schemas, select on their
  upstream relations, create on the build schema) and hands it the tables it rebuilds;
* `close_sandbox`: checks that the role left nothing in the build schema but plain tables named after
  the audience models (anything else is dropped and reported as a breach), hands those tables back
  to the build's user and revokes the grants.

Roles are cluster-wide: builds of other worlds (other schemas, other databases) use the same role
at the same time. So every statement here names the build's own schemas and relations; nothing is
database-wide (never `drop owned by` or `reassign owned by`, which would take another build's tables).
And one build's sandbox at a time (`sandbox_lock`): while two were open the role would hold both
builds' grants and own both builds' tables, so one build's analyst SQL could read or write the other's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SANDBOX_TARGET = "postgres_audience_sandbox"
DEFAULT_ROLE = "tessera_analyst_sql"
# The database the sandbox lock is taken in: advisory locks are per database, the role is not.
LOCK_DATABASE_ENV = "TESSERA_PG_SANDBOX_LOCK_DB"
DEFAULT_LOCK_DATABASE = "postgres"

# Server-side file and program functions; none may be executable by the role.
FILE_FUNCTIONS = (
    "pg_read_file(text)",
    "pg_read_file(text,bigint,bigint)",
    "pg_read_file(text,bigint,bigint,boolean)",
    "pg_read_binary_file(text)",
    "pg_read_binary_file(text,bigint,bigint,boolean)",
    "pg_ls_dir(text)",
    "pg_ls_dir(text,boolean,boolean)",
    "pg_stat_file(text)",
    "pg_stat_file(text,boolean)",
    "lo_import(text)",
    "lo_import(text,oid)",
    "lo_export(oid,text)",
    "pg_ls_logdir()",
    "pg_ls_waldir()",
    "pg_ls_tmpdir()",
    "pg_ls_archive_statusdir()",
)


class SandboxRefused(RuntimeError):
    """The sandbox role is not safe to build analyst SQL as: nothing was built."""


def sandbox_role() -> str:
    """The role's name: TESSERA_PG_SANDBOX_USER (profiles.yml reads the same variable)."""
    return os.environ.get("TESSERA_PG_SANDBOX_USER") or DEFAULT_ROLE


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class SandboxGrants:
    """What one build's sandboxed models may touch: `schema` is the build schema they are created in,
    `reads` the (schema, relation) pairs they read, `models` the tables they build there."""

    schema: str
    models: tuple[str, ...]
    reads: tuple[tuple[str, str], ...] = field(default=())

    @property
    def schemas(self) -> list[str]:
        return sorted({self.schema, *(schema for schema, _ in self.reads)})


def lock_connection(pg: Any) -> Any:
    """A dedicated connection (autocommit) for `sandbox_lock`, to the database every build of the
    cluster takes the lock in (TESSERA_PG_SANDBOX_LOCK_DB, default postgres); where the build's user
    may not connect there, the build's own database (builds in other databases are then not waited for)."""
    import psycopg2

    kwargs = pg.connect_kwargs()
    database = os.environ.get(LOCK_DATABASE_ENV) or DEFAULT_LOCK_DATABASE
    try:
        con = psycopg2.connect(**{**kwargs, "dbname": database})
    except psycopg2.OperationalError:
        log.warning(
            "audience sandbox: cannot connect to the database %s for the sandbox lock (set %s); "
            "waiting only for builds in the build's own database",
            database,
            LOCK_DATABASE_ENV,
        )
        con = psycopg2.connect(**kwargs)
    con.autocommit = True
    return con


@contextlib.contextmanager
def sandbox_lock(con: Any, role: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the session-level advisory lock on `role` on `con` (a dedicated autocommit connection that
    lives from before `open_sandbox` until after `close_sandbox`), so that one build's sandbox is open
    at a time. Waits for another build's sandbox to close (at most `timeout` seconds, then
    psycopg2.errors.LockNotAvailable); a build that dies drops its connection and so the lock."""
    key = f"tessera.audience_sandbox:{role}"
    with con.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(hashtext(%s))", (key,))
        if not cur.fetchone()[0]:
            log.info("audience sandbox: waiting for another build's sandbox (role %s) to close", role)
            started = time.monotonic()
            wait = "0" if timeout is None else f"{max(1, int(timeout * 1000))}ms"
            cur.execute("select set_config('lock_timeout', %s, false)", (wait,))
            try:
                cur.execute("select pg_advisory_lock(hashtext(%s))", (key,))
            finally:
                cur.execute("reset lock_timeout")
            log.info(
                "audience sandbox: the other build's sandbox closed after %.1f s", time.monotonic() - started
            )
    try:
        yield
    finally:
        if not con.closed:
            with con.cursor() as cur:
                cur.execute("select pg_advisory_unlock(hashtext(%s))", (key,))


def ensure_role(cur: Any, role: str, build_user: str, password: str | None = None) -> None:
    """Create the role if missing (a login role with no other rights); then refuse (SandboxRefused)
    unless it is safe. `password` is set only when the role is created."""
    if role == build_user:
        raise SandboxRefused(
            f"the audience sandbox role {role!r} is the build's own user: set TESSERA_PG_SANDBOX_USER "
            "to a role of its own"
        )
    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
    if cur.fetchone() is None:
        if password is not None:
            # Only a SCRAM verifier goes to the server: an error's context line, or the server's own
            # log of a failed statement, then never holds the password.
            from psycopg2.extensions import encrypt_password

            password = encrypt_password(password, role, cur.connection, "scram-sha-256")
        # Another build may create it at the same moment: a duplicate is fine.
        create = cur.mogrify(
            "execute format('create role %%I login nosuperuser nocreatedb nocreaterole noreplication "
            "nobypassrls noinherit' || case when %s::text is null then '' else ' password %%L' end, %s, %s)",
            (password, role, password),
        ).decode()
        cur.execute(
            f"do $tessera_role$ begin {create}; "
            "exception when duplicate_object or unique_violation then null; end $tessera_role$"
        )
        log.info("audience sandbox: made sure of the login role %s", role)
    else:
        # The role as the earlier design made it (nologin, used through `set role`): it logs in now.
        cur.execute("select rolcanlogin from pg_roles where rolname = %s", (role,))
        if not cur.fetchone()[0] and not role_problems(cur, role, login=False):
            cur.execute(f"alter role {quote_ident(role)} login")
            log.info("audience sandbox: the role %s may log in now", role)
    problems = role_problems(cur, role)
    if problems:
        raise SandboxRefused(
            f"the audience sandbox role {role!r} is not safe to build analyst SQL as, nothing was built: "
            + "; ".join(problems)
        )


def role_problems(cur: Any, role: str, *, login: bool = True) -> list[str]:
    """Why `role` may not build analyst SQL (empty: it may); `login=False` leaves out that it must
    be able to log in."""
    cur.execute(
        "select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin "
        "from pg_roles where rolname = %s",
        (role,),
    )
    row = cur.fetchone()
    if row is None:
        return ["it does not exist"]
    problems = [
        f"it has {name}"
        for name, value in zip(
            ("superuser", "createrole", "createdb", "replication", "bypassrls"), row[:5], strict=True
        )
        if value
    ]
    if login and not row[5]:
        problems.append("it cannot log in (dbt connects as it)")
    cur.execute(
        "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
        "join pg_roles r on r.oid = m.member where r.rolname = %s order by 1",
        (role,),
    )
    problems += [f"it is a member of the role {name}" for (name,) in cur.fetchall()]
    cur.execute(
        "select f from unnest(%s::text[]) as f where to_regprocedure(f) is not null "
        "and has_function_privilege(%s, f, 'execute')",
        (list(FILE_FUNCTIONS), role),
    )
    problems += [f"it may execute {name}" for (name,) in cur.fetchall()]
    cur.execute("select has_database_privilege(%s, current_database(), 'create')", (role,))
    if cur.fetchone()[0]:
        problems.append("it may create schemas in the database")
    # A schema anyone may create in (public before Postgres 15): its objects would escape the audit.
    cur.execute(
        "select n.nspname from pg_namespace n, aclexplode(n.nspacl) a "
        "where a.grantee = 0 and a.privilege_type = 'CREATE' order by 1"
    )
    problems += [
        f"every role may create objects in the schema {name} (revoke create on schema {name} from public)"
        for (name,) in cur.fetchall()
    ]
    return problems


def open_sandbox(con: Any, grants: SandboxGrants, role: str) -> None:
    """Grant `role` what this build's sandboxed models need, in one transaction of the build's own
    connection `con`; every grant names one of this build's objects."""
    role_sql = quote_ident(role)
    with con.cursor() as cur:
        for schema in grants.schemas:
            cur.execute(f"grant usage on schema {quote_ident(schema)} to {role_sql}")
        cur.execute(f"grant create on schema {quote_ident(grants.schema)} to {role_sql}")
        # A narrowed build may lack an upstream relation: the model then fails, saying so.
        reads = [f"{quote_ident(s)}.{quote_ident(n)}" for s, n in grants.reads if _exists(cur, s, n)]
        if reads:
            cur.execute(f"grant select on {', '.join(reads)} to {role_sql}")
        # The tables from the last build (copied into the build schema) are replaced by the role:
        # dbt renames them away, which only their owner may.
        for table in _existing_tables(cur, grants.schema, grants.models):
            cur.execute(f"alter table {quote_ident(grants.schema)}.{quote_ident(table)} owner to {role_sql}")
    con.commit()


def close_sandbox(con: Any, grants: SandboxGrants, role: str, build_user: str) -> list[str]:
    """After the sandboxed models ran: drop whatever `role` left in the build schema but the model
    tables, hand those back to `build_user` and revoke the grants, in one transaction. Returns the
    objects dropped, each a breach of the sandbox ("view tessera_build.x", …); only this build's
    schema is looked at, so another build's tables in progress are left alone."""
    schema, role_sql, owner_sql = grants.schema, quote_ident(role), quote_ident(build_user)
    breaches: list[str] = []
    with con.cursor() as cur:
        cur.execute("select oid from pg_namespace where nspname = %s", (schema,))
        found = cur.fetchone()
        if found is not None:
            breaches += _drop_breaches(cur, found[0], schema, set(grants.models), role)
            for table in _role_tables(cur, found[0], role):
                cur.execute(f"alter table {quote_ident(schema)}.{quote_ident(table)} owner to {owner_sql}")
        reads = [f"{quote_ident(s)}.{quote_ident(n)}" for s, n in grants.reads if _exists(cur, s, n)]
        if reads:
            cur.execute(f"revoke all on {', '.join(reads)} from {role_sql}")
        for name in grants.schemas:
            cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
            if cur.fetchone():
                cur.execute(f"revoke all on schema {quote_ident(name)} from {role_sql}")
    con.commit()
    for breach in breaches:
        log.error("audience sandbox: %s left %s; dropped", role, breach)
    return breaches


def _existing_tables(cur: Any, schema: str, names: Iterable[str]) -> list[str]:
    cur.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'p') and c.relname = any(%s) order by 1",
        (schema, list(names)),
    )
    return [name for (name,) in cur.fetchall()]


def _exists(cur: Any, schema: str, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f"{quote_ident(schema)}.{quote_ident(name)}",))
    return bool(cur.fetchone()[0])


def _role_tables(cur: Any, namespace: int, role: str) -> list[str]:
    cur.execute(
        "select relname from pg_class where relnamespace = %s and relkind = 'r' "
        "and relowner = (select oid from pg_roles where rolname = %s) order by 1",
        (namespace, role),
    )
    return [name for (name,) in cur.fetchall()]


# What the role may have made in the build schema besides tables: (what, query, drop statement).
# Each query takes (namespace oid, role) and returns (a name to report, the object as SQL names it).
_OWNED = [
    (
        "function",
        "select p.oid::regprocedure::text, p.oid::regprocedure::text, p.prokind from pg_proc p "
        "where p.pronamespace = %s and p.proowner = (select oid from pg_roles where rolname = %s)",
        "drop routine if exists {} cascade",
    ),
    (
        "type",
        # A table's row type (typrelid) goes with the table; an array type with its element type.
        "select t.oid::regtype::text, t.oid::regtype::text, '' from pg_type t where t.typnamespace = %s "
        "and t.typowner = (select oid from pg_roles where rolname = %s) and t.typrelid = 0 "
        "and t.typcategory <> 'A' and t.typtype <> 'm'",
        "drop type if exists {} cascade",
    ),
    (
        "operator",
        "select o.oid::regoperator::text, o.oid::regoperator::text, '' from pg_operator o "
        "where o.oprnamespace = %s and o.oprowner = (select oid from pg_roles where rolname = %s)",
        "drop operator if exists {} cascade",
    ),
    (
        "collation",
        "select c.collname, quote_ident(n.nspname) || '.' || quote_ident(c.collname), '' from pg_collation c "
        "join pg_namespace n on n.oid = c.collnamespace "
        "where c.collnamespace = %s and c.collowner = (select oid from pg_roles where rolname = %s)",
        "drop collation if exists {} cascade",
    ),
    (
        "conversion",
        "select c.conname, quote_ident(n.nspname) || '.' || quote_ident(c.conname), '' from pg_conversion c "
        "join pg_namespace n on n.oid = c.connamespace "
        "where c.connamespace = %s and c.conowner = (select oid from pg_roles where rolname = %s)",
        "drop conversion if exists {} cascade",
    ),
    (
        "statistics object",
        "select s.stxname, quote_ident(n.nspname) || '.' || quote_ident(s.stxname), '' from pg_statistic_ext s "
        "join pg_namespace n on n.oid = s.stxnamespace "
        "where s.stxnamespace = %s and s.stxowner = (select oid from pg_roles where rolname = %s)",
        "drop statistics if exists {}",
    ),
    (
        "text search configuration",
        "select c.cfgname, quote_ident(n.nspname) || '.' || quote_ident(c.cfgname), '' from pg_ts_config c "
        "join pg_namespace n on n.oid = c.cfgnamespace "
        "where c.cfgnamespace = %s and c.cfgowner = (select oid from pg_roles where rolname = %s)",
        "drop text search configuration if exists {} cascade",
    ),
    (
        "text search dictionary",
        "select d.dictname, quote_ident(n.nspname) || '.' || quote_ident(d.dictname), '' from pg_ts_dict d "
        "join pg_namespace n on n.oid = d.dictnamespace "
        "where d.dictnamespace = %s and d.dictowner = (select oid from pg_roles where rolname = %s)",
        "drop text search dictionary if exists {} cascade",
    ),
]

_RELKINDS = {
    "v": ("view", "drop view if exists {} cascade"),
    "m": ("materialized view", "drop materialized view if exists {} cascade"),
    "S": ("sequence", "drop sequence if exists {} cascade"),
    "f": ("foreign table", "drop foreign table if exists {} cascade"),
    "c": ("type", "drop type if exists {} cascade"),
    "p": ("partitioned table", "drop table if exists {} cascade"),
    "r": ("table", "drop table if exists {} cascade"),
}


def _drop_breaches(cur: Any, namespace: int, schema: str, models: set[str], role: str) -> list[str]:
    breaches: list[str] = []
    # Relations: plain tables named after the models, and their indexes, are what the role builds.
    cur.execute(
        "select c.relname, c.relkind, c.relrowsecurity or c.relforcerowsecurity from pg_class c "
        "where c.relnamespace = %s and c.relowner = (select oid from pg_roles where rolname = %s) "
        "and c.relkind not in ('i', 'I', 't') order by c.relkind <> 'v', c.relname",
        (namespace, role),
    )
    for name, kind, row_security in cur.fetchall():
        qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
        if kind == "r" and name in models:
            if row_security:
                cur.execute(
                    f"alter table {qualified} no force row level security, disable row level security"
                )
                breaches.append(f"row level security on {schema}.{name}")
            # Grants the role made on its table would outlive the hand-back.
            cur.execute(
                "select distinct coalesce(quote_ident(r.rolname), 'public') from pg_class c, aclexplode(c.relacl) a "
                "left join pg_roles r on r.oid = a.grantee where c.oid = %s::regclass and a.grantee <> c.relowner",
                (qualified,),
            )
            grantees = sorted(g for (g,) in cur.fetchall())
            if grantees:
                cur.execute(f"revoke all on {qualified} from {', '.join(grantees)}")
                breaches.append(f"grants on {schema}.{name} to {', '.join(grantees)}")
            continue
        what, drop = _RELKINDS.get(kind, ("relation", "drop table if exists {} cascade"))
        cur.execute(drop.format(qualified))
        breaches.append(f"{what} {schema}.{name}")
    # Triggers, rules and policies on the tables it kept.
    for what, query, drop in (
        (
            "trigger",
            "select t.tgname, c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
            "where c.relnamespace = %s and c.relowner = (select oid from pg_roles where rolname = %s) "
            "and not t.tgisinternal",
            "drop trigger if exists {} on {}",
        ),
        (
            "rule",
            "select r.rulename, c.relname from pg_rewrite r join pg_class c on c.oid = r.ev_class "
            "where c.relnamespace = %s and c.relowner = (select oid from pg_roles where rolname = %s) "
            "and r.rulename <> '_RETURN'",
            "drop rule if exists {} on {}",
        ),
        (
            "policy",
            "select p.polname, c.relname from pg_policy p join pg_class c on c.oid = p.polrelid "
            "where c.relnamespace = %s and c.relowner = (select oid from pg_roles where rolname = %s)",
            "drop policy if exists {} on {}",
        ),
    ):
        cur.execute(query, (namespace, role))
        for name, table in cur.fetchall():
            cur.execute(drop.format(quote_ident(name), f"{quote_ident(schema)}.{quote_ident(table)}"))
            breaches.append(f"{what} {name} on {schema}.{table}")
    for what, query, drop in _OWNED:
        cur.execute(query, (namespace, role))
        for label, sql_name, kind in cur.fetchall():
            cur.execute(drop.format(sql_name))
            breaches.append(f"{'procedure' if kind == 'p' else what} {label}")
    # Default privileges the role set for what it creates in this schema.
    cur.execute(
        "select d.defaclobjtype, array_agg(distinct a.grantee) from pg_default_acl d, aclexplode(d.defaclacl) a "
        "where d.defaclnamespace = %s and d.defaclrole = (select oid from pg_roles where rolname = %s) group by 1",
        (namespace, role),
    )
    kinds = {"r": "tables", "S": "sequences", "f": "functions", "T": "types", "n": "schemas"}
    for kind, grantees in cur.fetchall():
        names = []
        for grantee in grantees:
            cur.execute("select rolname from pg_roles where oid = %s", (grantee,))
            found = cur.fetchone()
            names.append("public" if grantee == 0 or found is None else quote_ident(found[0]))
        cur.execute(
            f"alter default privileges for role {quote_ident(role)} in schema {quote_ident(schema)} "
            f"revoke all on {kinds.get(kind, 'tables')} from {', '.join(sorted(set(names)))}"
        )
        breaches.append(f"default privileges on {kinds.get(kind, kind)} in schema {schema}")
    return breaches
