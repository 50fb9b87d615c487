"""Connected components of the identity graph without its probabilistic edges (scipy, as in
int_identity__components.py): what identity would be without probabilistic matching. Used to tell
which part of a customer rests on a probabilistic link (its confidence), to leave pairs that
identifiers already join out of the review queue, to keep a rejected pair apart through third
records (int_identity__probabilistic_links), and by `tessera bench identity`."""

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity__nodes").filter("is_linkable").project("node_id").fetchnumpy()["node_id"]
    edges = dbt.ref("int_identity__identifier_edges").project("node_id_a, node_id_b").fetchnumpy()
    node_ids = np.asarray(nodes, dtype=np.int64)
    size = int(node_ids.max()) + 1 if len(node_ids) else 1
    a = np.asarray(edges["node_id_a"], dtype=np.int64)
    b = np.asarray(edges["node_id_b"], dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(size, size)).tocsr()
    n_components, labels = connected_components(graph, directed=False)
    smallest = np.full(n_components, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels[node_ids], node_ids)
    return pa.table(
        {"node_id": node_ids, "deterministic_component_id": smallest[labels[node_ids]].astype(np.int64)}
    )
