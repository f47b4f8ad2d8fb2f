"""The job's checkpoints: the newest readable one restored, every save complete or absent.

    JOB/checkpoints/ckpt-N.index, ckpt-N.data-00000-of-00001   the state after N steps; the last 3 kept
    JOB/checkpoints/checkpoint                                  names the latest (rewritten atomically)

TensorFlow writes a checkpoint into ckpt-N_temp/ and renames its files when complete, so a kill leaves the
earlier ones whole. A checkpoint damaged all the same (a file truncated by a full disk, a copy cut short) is
skipped with one line, and the job resumes from the newest one whose every tensor reads back (TensorFlow
checks each tensor's CRC32C as it reads). A save that fails (a full disk) removes its ckpt-N_temp/ and stops
the job in one line, the earlier checkpoints intact, so that the same command resumes once there is room.
"""
import os
import re
import shutil

import tensorflow as tf

from . import jobdir

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
        """Restore the newest readable checkpoint -> its step (0: none yet, a new job)."""
        found, damaged = saved(self.folder), []
        for prefix in found:
            why = unreadable(prefix)
            if why is None:
                break
            damaged.append((prefix, why))
        else:
            if damaged:
                raise jobdir.JobDirError(f"no checkpoint in {self.folder} reads back whole (" + "; ".join(
                    f"{os.path.basename(p)}: {why}" for p, why in damaged) + "): move that folder away to "
                    "train again from step 0, or give a new --job-dir")
            return 0
        for bad, why in damaged:
            log(f"checkpoint {os.path.basename(bad)} is unreadable ({why}): resuming from "
                f"{os.path.basename(prefix)}")
        other = self.other_network(prefix)
        if other:
            raise jobdir.JobDirError(f"checkpoint {os.path.basename(prefix)} in {self.folder} holds another network "
                                     f"than this job's configuration ({'; '.join(other[:3])}): it was written with "
                                     "other --hp-conv flags; move the checkpoints away, or give a new --job-dir")
        self.trainer.checkpoint.restore(prefix).assert_consumed()
        log(f"resuming from {prefix} (step {self.trainer.step})")
        return self.trainer.step

    def other_network(self, prefix):
        """The layers whose shapes differ between the checkpoint and this job's network: ["conv1: [6, 6, 1, 8]
        there, [6, 6, 1, 6] here", ...], [] when it fits. (A checkpoint names each variable by the path of
        attributes that holds it: model/conv1/..., the network's own layer names.)"""
        saved = {}
        for key, shape in tf.train.load_checkpoint(prefix).get_variable_to_shape_map().items():
            parts = key.split("/")
            if parts[0] == "model" and len(parts) > 2:
                saved.setdefault(parts[1], []).append(list(shape))
        out = []
        for name, shapes in sorted(saved.items()):
            layer = getattr(self.trainer.model, name, None)
            here = sorted(list(v.shape) for v in layer.variables) if layer is not None else []
            if sorted(shapes) != here:
                out.append(f"{name}: {max(shapes, key=len)} there, {max(here, key=len, default=None)} here")
        return out

    def save(self, step):
        """Save the state after `step` steps as ckpt-<step>, or stop the job in one line if it cannot."""
        self.trainer.synchronise()  # the same batch-norm averages on every worker before they are saved
        try:
            self.manager.save(checkpoint_number=step)
        except BaseException as e:  # a full disk, a lost peer, a second Ctrl-C: no ckpt-N_temp/ left behind
            shutil.rmtree(os.path.join(self.manager.directory, f"ckpt-{step}_temp"), ignore_errors=True)
            if not isinstance(e, (tf.errors.OpError, OSError)) or isinstance(e, self.trainer.peer_errors):
                raise
            last = self.manager.latest_checkpoint
            kept = f"{os.path.basename(last)} and the earlier checkpoints are intact" if last else \
                "no checkpoint was saved before"
            raise jobdir.cannot_write(f"checkpoint ckpt-{step} in {self.manager.directory}", e,
                                      f"the job stops at step {step}; {kept}", "resume") from None


def saved(folder):
    """The prefixes of the checkpoints in folder, newest first. Found by their files, not by the
    `checkpoint` index, so that a damaged index hides none."""
    if not tf.io.gfile.isdir(folder):
        return []
    steps = [int(m.group(1)) for name in tf.io.gfile.listdir(folder)
             if (m := re.fullmatch(r"ckpt-(\d+)\.index", name))]
    return [os.path.join(folder, f"ckpt-{step}") for step in sorted(steps, reverse=True)]


def unreadable(prefix):
    """None if every tensor of the checkpoint reads back (3 MB for the default net), else the reason."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, OSError) as e:  # truncated: IndexError, of all things
        return jobdir.reason(e)
    return None
