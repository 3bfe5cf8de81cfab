"""What users configure, as data: YAML loading with positions, the JSON Schemas, rules, fault records,
the enumerated settings, and the request matcher rules and faults share."""
