{{ tessera.rows_passing_quarantine(ref('base_events__identifies')) }}
