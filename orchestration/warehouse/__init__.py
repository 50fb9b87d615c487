"""The warehouses behind one interface (`interface.Warehouse`): connections, the audit, write-audit-publish
and raw loading. Only this package knows which warehouse a build runs on; `registry.get_warehouse` picks
the implementation from the settings."""
