"""Benchmarks of the runtime, with baselines beside it in the same run.

Run ``python -m benchmarks [--quick] [--only W1,W2] [--out benchmarks/results/NAME.json]``;
``benchmarks/README.md`` says what each workload measures and how to read the ratios.

Modules, one concept each:

- ``_bots``: the bots under test (the greetings example, and a variant whose bodies block);
- ``_scripts``: what each simulated user says, and the oracle of the replies they must get;
- ``_systems``: the systems under test behind one small interface (ours and baselines a-d);
- ``_load``: load drivers (closed loop, open loop) and the transcript check;
- ``_memory``: RSS readings and the fresh subprocesses that memory measurements run in;
- ``_context``: what the workloads of one run share (settings, progress, verdicts);
- ``_measure``: one throughput or latency measurement of one system (W1, W2, W6 use it);
- ``_workloads``: W1-W5 (and the table of all workloads);
- ``_stores``: where W6's stores live (a temporary SQLite folder, a Redis server);
- ``_durability``: W6, ours on the memory, SQLite and Redis stores, and restarts;
- ``_targets``: the targets (issue #4, W6's), and the machine info recorded with the numbers;
- ``_report``: the readable table and the JSON file; ``_plot``: the PNG plot.
"""
