"""snapconf's workshop: the embedded testbed, the CSI fault interposer and fault detection.

The optional extra of ``csi-snapshot-conformance`` (``pip install
'csi-snapshot-conformance[testbed]'``; from a checkout ``pip install . ./workshop``).
It imports the core (``conformance``); the core never imports it at import time and
reaches it only through :mod:`conformance.testbed_hook`, which loads :mod:`.hook`.

Layers, each importing only those above it: ``paths`` and ``layout`` (where things
live), ``build`` (Go binaries from the pinned modules), ``faults`` (the interposer and
its faults), ``testbed`` (the cluster), then ``detection``, ``command`` (``snapconf
testbed``) and ``hook`` (what the core asks of the testbed).
"""
