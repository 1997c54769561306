"""The switchboard directory (commutazione): offices and staff callers reach by name.

``rules.py`` and ``matching.py`` are pure (what an entry may hold; which entries a caller's keys
or words name); ``models.py`` and its revision keep the entries in the city database;
``store.py`` reads and changes them all-or-nothing (CSV import included, ``csvio.py``) and
answers the ``directory.*`` services; ``node.py`` is the ``directory`` node kind (pure, engine
layer); ``audio.py`` speaks each entry's name and hours with the prompt pipeline.
"""
