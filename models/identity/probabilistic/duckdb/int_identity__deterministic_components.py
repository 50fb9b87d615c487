"""Connected components of the identity graph without its probabilistic edges (scipy, as in
int_identity__components.py, from the identifier edges alone): what identity would be without
probabilistic matching. Used to tell which part of a customer rests on a probabilistic link (its
confidence), to leave pairs that identifiers already join out of the review queue, to keep a rejected
pair apart through third records (int_identity__probabilistic_links), and by `tessera bench identity`."""

import pyarrow as pa

from orchestration.identity.graph import smallest_node_labels


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity__nodes").filter("is_linkable").project("node_id").fetchnumpy()["node_id"]
    edges = dbt.ref("int_identity__identifier_edges").project("node_id_a, node_id_b").fetchnumpy()
    labels = smallest_node_labels(nodes, edges["node_id_a"], edges["node_id_b"])
    return pa.table({"node_id": pa.array(nodes, pa.int64()), "deterministic_component_id": labels})
