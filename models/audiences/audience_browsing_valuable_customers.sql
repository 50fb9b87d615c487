{{ tessera.rule_audience('browsing_valuable_customers') }}
