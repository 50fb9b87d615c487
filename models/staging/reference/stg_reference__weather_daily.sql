{{ tessera.rows_passing_quarantine(ref('base_reference__weather_daily')) }}
