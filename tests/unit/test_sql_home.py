"""Delivery rows have one home: only ``zigznote/delivery/queue/`` touches the delivery tables.

The scan looks at every module of ``src/zigznote`` outside the allowed places for

* SQL text naming a delivery table after a statement keyword (``INSERT INTO``, ``UPDATE``,
  ``DELETE FROM``, ``FROM``, ``JOIN``, ``COPY``), or the bare table name as a string;
* any use of the ``Delivery`` / ``DeliveryAttempt`` models other than in a type annotation:
  ``select(Delivery)``, ``table_of(Delivery)``, ``Delivery(...)``, ``session.add(...)`` of one,
  ``DeliveryAttempt.webhook_id == …`` all need the model object at run time.

Docstrings and comments are prose, not SQL, and are not scanned.

Allowed, by name and why:

* ``delivery/queue/``: the home (claims, finishing, health, jobs, admin writes, views for
  display, retention);
* ``store/models/``: the table definitions themselves;
* ``store/migrations/``: schema changes, run only by ``db upgrade``/``downgrade``.

Reads for display (deliveries, attempts, counts, statistics, ``status``) are not exempt:
they go through ``delivery/queue/views.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import zigznote

SRC = Path(zigznote.__file__).parent
ALLOWED = ("delivery/queue/", "store/models/", "store/migrations/")
TABLES = ("webhook_delivery", "delivery_attempt")
MODELS = frozenset({"Delivery", "DeliveryAttempt"})
_SQL_RE = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from|from|join|copy)\s+[\"']?(?:webhook_delivery|delivery_attempt)\b",
    re.IGNORECASE,
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _annotations(tree: ast.AST) -> set[int]:
    """ids of every node inside a type annotation (those never run a query)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            roots += [a.annotation for a in every if a is not None and a.annotation is not None]
            if node.returns is not None:
                roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(n) for root in roots for n in ast.walk(root)}


def violations(source: str, where: str) -> list[str]:
    """``"<where>:<line>: <what>"`` for each delivery-table access in ``source``."""
    tree = ast.parse(source)
    skip_strings = _docstrings(tree)
    skip_names = _annotations(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip_strings:
            text = node.value
            if _SQL_RE.search(text) or text.strip().strip('"') in TABLES:
                found.append(f"{where}:{node.lineno}: SQL on a delivery table: {text.strip()[:60]!r}")
        elif isinstance(node, ast.Name) and node.id in MODELS and id(node) not in skip_names:
            found.append(f"{where}:{node.lineno}: uses the {node.id} model")
        elif isinstance(node, ast.Attribute) and node.attr in MODELS and id(node) not in skip_names:
            found.append(f"{where}:{node.lineno}: uses the {node.attr} model")
    return sorted(found, key=lambda v: int(v.split(":")[1]))


def test_delivery_sql_lives_only_in_the_queue_package() -> None:
    found = []
    scanned = 0
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(ALLOWED):
            continue
        scanned += 1
        found += violations(path.read_text(encoding="utf-8"), relative)
    assert scanned > 40, "the scan found too few modules: is SRC right?"
    assert found == [], "delivery-table SQL outside zigznote/delivery/queue/:\n" + "\n".join(found)


def test_the_scan_finds_each_kind_of_access() -> None:
    sample = '''
"""A docstring may say: UPDATE webhook_delivery is done elsewhere."""
from zigznote.store.models import Delivery, DeliveryAttempt, table_of
from zigznote.store import models

def render(d: Delivery) -> list[DeliveryAttempt]:
    """SELECT * FROM delivery_attempt, in prose."""
    return []

def bad(session, conn):
    conn.execute("update webhook_delivery set status = 'pending'")
    conn.execute(f"SELECT count(*) FROM delivery_attempt WHERE id = {1}")
    session.add(DeliveryAttempt(id="att_1"))
    table_of(Delivery)
    models.Delivery
    conn.execute('INSERT INTO "webhook_delivery" (id) VALUES (1)')
    sa.table("delivery_attempt")
'''
    assert violations(sample, "m.py") == [
        "m.py:11: SQL on a delivery table: \"update webhook_delivery set status = 'pending'\"",
        "m.py:12: SQL on a delivery table: 'SELECT count(*) FROM delivery_attempt WHERE id ='",
        "m.py:13: uses the DeliveryAttempt model",
        "m.py:14: uses the Delivery model",
        "m.py:15: uses the Delivery model",
        "m.py:16: SQL on a delivery table: 'INSERT INTO \"webhook_delivery\" (id) VALUES (1)'",
        "m.py:17: SQL on a delivery table: 'delivery_attempt'",
    ]


def test_prose_and_annotations_are_not_access() -> None:
    sample = '''
from __future__ import annotations
x: Delivery | None = None
def f(rows: list[DeliveryAttempt]) -> Delivery:
    """Rows of webhook_delivery are claimed FROM the queue."""
    message = "a webhook_delivery row"
    return rows[0]
'''
    assert violations(sample, "m.py") == []
