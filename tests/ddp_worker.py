"""Run by torchrun from tests/test_distributed.py: one training run, in every
process of the group.

    torchrun --nproc_per_node N -m tests.ddp_worker enhancer CONF.json EXP TN TC DN DC
    torchrun --nproc_per_node N -m tests.ddp_worker am CONF.yaml EXP DEV TRAIN...
"""

from __future__ import annotations

import json
import sys

import torch


def main(argv: list[str]) -> int:
    from pipeline import distributed as ddp

    import logging

    kind, conf, exp, *dirs = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rank %(process)d %(name)s: %(message)s")
    torch.set_num_threads(1)
    ddp.init("cpu")
    if kind == "enhancer":
        from pipeline.enhance.train import train_enhancer

        tn, tc, dn, dc = dirs
        conf = json.loads(open(conf).read())
        train_enhancer(conf, [tn], [tc], [dn], [dc], exp, progress=False)
    else:
        from pipeline.asr.train import train_am

        train_am(conf, dirs[1:], dirs[0], exp, seed=1)
    ddp.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
