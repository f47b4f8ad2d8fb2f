"""Data-parallel training on tf.distribute: the strategy for this process, and the Trainer that uses it.

    one process, one device, no TF_CONFIG   no strategy: model.Trainer, exactly the single-machine job
    TF_CONFIG with several tasks            MultiWorkerMirroredStrategy: one replica per worker process
    no TF_CONFIG, several GPUs              MirroredStrategy: one replica per GPU of this machine

Global batch semantics: every replica computes the same global batch of 100 (train_batches is a pure
function of (seed, step)) and trains on its slice, rows r*100//N .. (r+1)*100//N; its loss is its summed
cross-entropy over 100, so the all-reduced (summed) gradients are those of the global batch's mean loss, and
the learning rate stays the single worker's. Keras 3's Adam sums the gradients across replicas itself when
apply_gradients is called inside strategy.run (keras/src/backend/tensorflow/optimizer.py,
_all_reduce_sum_gradients); checked here: the weights stay equal on every worker.

What differs from one worker: batch norm normalises each replica's slice with that slice's own statistics
(50 examples with 2 workers instead of 100), and dropout masks are drawn per replica. Batch norm's moving
averages are updated by each replica from its slice (Keras 3 assigns the local copy of the variable), so
they drift apart; being linear in the batch statistics, their mean over replicas is the moving average of
the replicas' mean statistics, so averaging them before every checkpoint, test and export gives every
worker the same model at no per-step cost.
"""
import tensorflow as tf

from . import BATCH
from .model import Trainer

LOST_PEER = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
             tf.errors.DeadlineExceededError)  # what a collective raises when a worker is gone


def make_strategy(role):
    """The strategy for this process (None: train on one device as the single-machine job does).

    MultiWorkerMirroredStrategy reads TF_CONFIG itself and must be made before any other TensorFlow op."""
    if role.distributed:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return None


def make_trainer(hp, seed, strategy):
    """The Trainer for this strategy: the one place where one device and several replicas differ."""
    return Trainer(hp, seed) if strategy is None else DistributedTrainer(hp, seed, strategy)


class DistributedTrainer(Trainer):
    """Trainer whose variables live in the strategy (mirrored on every replica)."""

    peer_errors = LOST_PEER

    def __init__(self, hp, seed, strategy):
        self.strategy = strategy
        with strategy.scope():
            super().__init__(hp, seed)

    @tf.function
    def train_step(self, X, Y_, stop):
        """One step on the global batch X [100, 28, 28, 1] -> (loss, accuracy, lr, stops).

        stop (float32 scalar): 1 if this worker was asked to stop (Ctrl-C, SIGTERM). Summed with the loss and
        the number correct in one all-reduce of 3 floats, so every worker learns at the same step that some
        worker must stop, at the cost of no extra collective."""
        step = tf.cast(self.optimizer.iterations, tf.int64)
        replicas = self.strategy.num_replicas_in_sync

        def replica_step(X, Y_, stop):
            r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
            lo, hi = r * BATCH // replicas, (r + 1) * BATCH // replicas
            Xr, Yr = X[lo:hi], Y_[lo:hi]                     # [100/N, 28, 28, 1], [100/N, 10]
            dropout_seed = tf.stack([tf.constant(self.seed, tf.int64), step * 1024 + r])
            with tf.GradientTape() as tape:
                Ylogits = self.model(Xr, training=True, dropout_seed=dropout_seed)
                loss = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(labels=Yr, logits=Ylogits)) / BATCH
            grads = tape.gradient(loss, self.model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))  # all-reduced inside
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(Ylogits, 1), tf.argmax(Yr, 1)), tf.float32))
            return tf.stack([loss, correct, stop])

        summed = self.strategy.reduce(tf.distribute.ReduceOp.SUM,
                                      self.strategy.run(replica_step, args=(X, Y_, stop)), axis=None)
        return summed[0], summed[1] / BATCH, self.schedule(step), summed[2]

    @tf.function
    def _average_moving_statistics(self):
        def replica_fn():
            variables = self.model.non_trainable_variables  # batch norm's moving means and variances
            means = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in variables])
            for v, mean in zip(variables, means):
                v.assign(mean)
        self.strategy.run(replica_fn)

    def synchronise(self):
        """Every replica gets the mean of the replicas' moving averages (a collective: all workers call it)."""
        self._average_moving_statistics()
