"""The chaos soak (``cjt soak``): the whole stack in real time under seeded random faults.

* :mod:`.kinds`: the kinds of fault, per venue;
* :mod:`.monkey`: the seeded fault schedule, and injecting it;
* :mod:`.invariants`: what must hold, checked against the venue's own records;
* :mod:`.tally`: the journal, folded as the soak reads it;
* :mod:`.recovery`: recovery times from journaled events, and percentiles;
* :mod:`.memory`: resident memory samples and their growth;
* :mod:`.runner`: :func:`~.runner.run_soak`, one soak;
* :mod:`.report`: the printed table and the JSON document.

Nothing is imported here: ``cjt soak --help`` reads :mod:`.kinds` without importing trio
or the simulator, which importing the runner would.
"""

__all__: list[str] = []
