{{ tessera.rule_audience('last_season_matchgoers_near_store') }}
