"""Privacy requests: a ledger of access, erasure, suppression and unsuppression requests, and the code that fulfils them."""
