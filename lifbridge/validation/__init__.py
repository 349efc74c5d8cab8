"""The validation harness: protocols, references (the judge), checks, report.

* :mod:`.protocols` defines the stimuli, once for every backend;
* :mod:`.references` computes the judge (closed forms, reference integrator);
* :mod:`.tolerances` is the one table of tolerances and known gaps;
* :mod:`.checks` compares records with the judge;
* :mod:`.report` writes report.json, figures and index.html from records;
* :mod:`.harness` runs it all (``lifbridge validate``).
"""

from .harness import validate
from .report import summary_text, write_report

__all__ = ["validate", "write_report", "summary_text"]
