"""The job's checkpoints: restored from the chief's folder, saved by every worker into its own.

    JOB/checkpoints/ckpt-N.index, ckpt-N.data-00000-of-00001   the state after N steps; the last 3 kept
    JOB/checkpoints/checkpoint                                  names the latest (rewritten atomically)

TensorFlow writes a checkpoint into ckpt-N_temp/ and renames its files when complete, so a kill leaves the
earlier ones whole.
"""
import os
import shutil

import tensorflow as tf

KEEP = 3


class Checkpoints:
    """Restore and save the trainer's variables. The chief's folder is the one every worker restores from;
    each worker saves into its own (the chief's own is the job directory; saving is collective)."""

    def __init__(self, trainer, job_dir, own_dir):
        self.trainer = trainer
        self.folder = os.path.join(job_dir, "checkpoints")
        self.manager = tf.train.CheckpointManager(trainer.checkpoint, os.path.join(own_dir, "checkpoints"),
                                                  max_to_keep=KEEP)

    def restore(self, log):
        """Restore the latest checkpoint -> its step (0: none yet, a new job)."""
        latest = tf.train.latest_checkpoint(self.folder)
        if not latest:
            return 0
        self.trainer.checkpoint.restore(latest).assert_consumed()
        log(f"resuming from {latest} (step {self.trainer.step})")
        return self.trainer.step

    def save(self, step):
        """Save the state after `step` steps as ckpt-<step>."""
        self.trainer.synchronise()  # the same batch-norm averages on every worker before they are saved
        try:
            self.manager.save(checkpoint_number=step)
        except BaseException:  # a second Ctrl-C, a lost peer: no ckpt-N_temp/ left behind
            shutil.rmtree(os.path.join(self.manager.directory, f"ckpt-{step}_temp"), ignore_errors=True)
            raise
