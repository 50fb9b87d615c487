"""Connected components of the identity graph on DuckDB: scipy's union-find in C over the edge list
(orchestration/identity/graph.py).

The portable SQL version (int_identity__components.sql, used on every other warehouse) computes the
same partition; this one exists because it is about 13x faster on 1M people (STACK_NOTES.md).
Each linkable node gets the smallest node_id of its component as component_id.
"""

import pyarrow as pa

from orchestration.identity.graph import smallest_node_labels


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity__nodes").filter("is_linkable").project("node_id").fetchnumpy()["node_id"]
    edges = dbt.ref("int_identity__edges").project("node_id_a, node_id_b").fetchnumpy()
    labels = smallest_node_labels(nodes, edges["node_id_a"], edges["node_id_b"])
    return pa.table({"node_id": pa.array(nodes, pa.int64()), "component_id": labels})
