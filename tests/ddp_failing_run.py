"""torchrun entry point for test_cli: ``ncf_helpers.cli`` with rank 1 failing at step 3.

The failure is injected here, in the test's own entry script, by patching the engine's
per-step loss; production code has no failure switch. Run it as torchrun runs the CLI::

    python -m torch.distributed.run --standalone --nproc_per_node=2 \\
        tests/ddp_failing_run.py --data synthetic:200x100x4000 --out runs/failing
"""
import os

from ncf_helpers import cli, training

FAIL_RANK, FAIL_STEP = 1, 3
MESSAGE = f"rank {FAIL_RANK}: failure injected by tests/ddp_failing_run.py at step {FAIL_STEP}"


def inject():
    """Make the engine's per-step loss raise on rank ``FAIL_RANK`` at step ``FAIL_STEP``."""
    step_loss, steps = training._step_loss, []

    def failing_step_loss(*args, **kwargs):
        steps.append(1)
        if int(os.environ.get("RANK", 0)) == FAIL_RANK and len(steps) == FAIL_STEP:
            raise RuntimeError(MESSAGE)
        return step_loss(*args, **kwargs)

    training._step_loss = failing_step_loss


if __name__ == "__main__":
    inject()
    cli.main()
