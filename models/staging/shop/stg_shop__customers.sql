{{ tessera.rows_passing_quarantine(ref('base_shop__customers')) }}
