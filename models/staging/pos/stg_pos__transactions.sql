{{ tessera.rows_passing_quarantine(ref('base_pos__transactions')) }}
