{{ tessera.rule_audience('emailable_big_spenders') }}
