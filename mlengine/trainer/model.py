"""The course's batch-norm convolutional network (step 4.2) in Keras layers, its learning-rate decay, and the
Trainer that holds both with their compiled steps (trainer.distribute subclasses it for tf.distribute).

    X [batch, 28, 28, 1]
    conv 6x6, stride 1, conv1 filters   -> batch norm (offset only) -> ReLU   [batch, 28, 28, conv1]
    conv 5x5, stride 2, conv2 filters   -> batch norm               -> ReLU   [batch, 14, 14, conv2]
    conv 4x4, stride 2, conv3 filters   -> batch norm               -> ReLU   [batch,  7,  7, conv3]
    flatten                                                                   [batch, 7*7*conv3]
    dense 200                           -> batch norm -> ReLU -> dropout      [batch, 200]
    dense 10 (logits)                   -> softmax                            [batch, 10]

Batch norm comes before the ReLU and has no scale (ReLU makes a learned scale redundant), so the
convolutions and the dense layer need no bias: batch norm's offset plays that part. Its moving averages
(decay --hp-bnexp) are what the network uses when testing.
Dropout is stateless: its mask is a pure function of (seed, step), so a resumed run draws the same masks as
an uninterrupted one.
"""
import hashlib

import keras
import numpy as np
import tensorflow as tf

L = keras.layers


class ConvNet(keras.Model):
    def __init__(self, hp, seed=0):
        super().__init__(name="mnist_bn_cnn")
        # The original job's choices: weights from a normal of stddev 0.1, batch norm's epsilon 1e-5 (Keras:
        # 1e-3), Adam's epsilon below. Default job, seed 0, no shifts: 99.32% with all three, 99.25% with
        # Keras's defaults. With --hp-shift 1 (seeds 0-2, an earlier draw of the shifts): 99.38% mean with
        # Glorot's init, 99.42% with this one.
        init = lambda k: keras.initializers.TruncatedNormal(stddev=0.1, seed=seed * 10 + k)  # noqa: E731
        bn = lambda: L.BatchNormalization(momentum=hp["bnexp"], epsilon=1e-5, scale=False)   # noqa: E731
        self.hp = dict(hp)
        self.conv1 = L.Conv2D(hp["conv1"], 6, 1, padding="same", use_bias=False, kernel_initializer=init(1))
        self.bn1 = bn()
        self.conv2 = L.Conv2D(hp["conv2"], 5, 2, padding="same", use_bias=False, kernel_initializer=init(2))
        self.bn2 = bn()
        self.conv3 = L.Conv2D(hp["conv3"], 4, 2, padding="same", use_bias=False, kernel_initializer=init(3))
        self.bn3 = bn()
        self.flatten = L.Flatten()
        self.dense = L.Dense(200, use_bias=False, kernel_initializer=init(4))
        self.bn4 = bn()
        self.logits = L.Dense(10, kernel_initializer=init(5))

    def call(self, X, training=False, dropout_seed=None):
        """X [batch, 28, 28, 1] in 0..1 -> logits [batch, 10]. dropout_seed: int64 [2], used when training."""
        Y = tf.nn.relu(self.bn1(self.conv1(X), training=training))
        Y = tf.nn.relu(self.bn2(self.conv2(Y), training=training))
        Y = tf.nn.relu(self.bn3(self.conv3(Y), training=training))
        Y = tf.nn.relu(self.bn4(self.dense(self.flatten(Y)), training=training))
        if training and self.hp["dropout"] > 0:
            Y = tf.nn.experimental.stateless_dropout(Y, rate=self.hp["dropout"], seed=dropout_seed)
        return self.logits(Y)


class CourseDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = lr1 + lr0 * exp(-step / lr2): fast at first, then settling at lr1."""

    def __init__(self, lr0, lr1, lr2):
        self.lr0, self.lr1, self.lr2 = float(lr0), float(lr1), float(lr2)

    def __call__(self, step):
        return self.lr1 + self.lr0 * tf.exp(-tf.cast(step, tf.float32) / self.lr2)

    def get_config(self):
        return {"lr0": self.lr0, "lr1": self.lr1, "lr2": self.lr2}


def build(hp, seed=0):
    """The network and its Adam optimiser, with every variable created (a checkpoint restores into them)."""
    model = ConvNet(hp, seed)
    model(tf.zeros([1, 28, 28, 1]))
    # The original minimised 100 x the mean cross-entropy with TF1's Adam (epsilon 1e-8); Adam's steps are the
    # same for the plain mean with epsilon 1e-10 (m / (sqrt(v) + eps) scales with the loss, eps does not).
    optimizer = keras.optimizers.Adam(CourseDecay(hp["lr0"], hp["lr1"], hp["lr2"]), epsilon=1e-10)
    optimizer.build(model.trainable_variables)
    return model, optimizer


class Trainer:
    """The network, its optimiser and their compiled steps, on one device. Tests drive it directly.

    trainer.distribute.DistributedTrainer has the same interface for several replicas; the training loop
    (trainer.train) sees no other difference between the two."""

    peer_errors = ()  # what a lost peer raises (none: there is no peer)

    def __init__(self, hp, seed=0):
        self.hp, self.seed = dict(hp), int(seed)
        self.model, self.optimizer = build(hp, seed)
        self.schedule = CourseDecay(hp["lr0"], hp["lr1"], hp["lr2"])
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    @tf.function
    def train_step(self, X, Y_, stop):
        """One Adam step on a batch -> (loss, accuracy, learning rate, stop), measured before the update.

        stop (float32 scalar): 1 if this process was asked to stop; returned as it came (one worker agrees
        with itself), where the distributed step returns the sum over the workers."""
        step = tf.cast(self.optimizer.iterations, tf.int64)
        dropout_seed = tf.stack([tf.constant(self.seed, tf.int64), step])
        with tf.GradientTape() as tape:
            Ylogits = self.model(X, training=True, dropout_seed=dropout_seed)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y_, logits=Ylogits))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(Ylogits, 1), tf.argmax(Y_, 1)), tf.float32))
        return loss, accuracy, self.schedule(step), stop

    def synchronise(self):
        """Make the replicas' batch-norm averages equal before a checkpoint (one replica: nothing to do)."""

    @tf.function
    def eval_batch(self, X, Y_):
        """(summed cross-entropy, number correct) of a batch, batch norm on its moving averages."""
        Ylogits = self.model(X, training=False)
        loss = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(labels=Y_, logits=Ylogits))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(Ylogits, 1), tf.argmax(Y_, 1)), tf.int64))
        return loss, correct

    def evaluate(self, images, labels, batch=1000):
        """{"accuracy", "loss" (mean cross-entropy), "correct", "examples"} over the whole set."""
        loss, correct = 0.0, 0
        for i in range(0, len(images), batch):
            batch_loss, c = self.eval_batch(tf.constant(images[i:i + batch]), tf.constant(labels[i:i + batch]))
            loss, correct = loss + float(batch_loss), correct + int(c)
        return {"accuracy": correct / len(images), "loss": loss / len(images), "correct": correct,
                "examples": len(images)}

    def fingerprint(self):
        """SHA-256 of every variable (weights, moving averages, Adam's moments): equal means identical runs."""
        h = hashlib.sha256()
        for v in list(self.model.variables) + list(self.optimizer.variables):
            h.update(np.ascontiguousarray(v.numpy()).tobytes())
        return h.hexdigest()[:16]
