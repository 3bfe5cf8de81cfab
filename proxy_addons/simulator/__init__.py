"""The synthesiser: Orange's playground and lab, simulated. The engine, classification, errors and
their dialects, geometry, and one module per API (`apis/`)."""
