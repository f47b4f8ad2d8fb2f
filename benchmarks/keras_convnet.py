"""The peer: keras-io's "Simple MNIST convnet", written here from its description, timed as our steps are.

    python3 benchmarks/keras_convnet.py --seed 0              # 15 epochs, about 5 minutes on 2 cores

Model: conv 3x3 32 ReLU -> 2x2 max-pool -> conv 3x3 64 ReLU -> 2x2 max-pool -> flatten -> dropout 0.5 ->
dense 10 softmax; Adam (Keras defaults), categorical cross-entropy, batch 128, 15 epochs, 10% of the
training set held out for validation. The same data as the steps (mnistdata, 0..1 floats).
Timed the same way: after every epoch it tests on all 10,000 test digits and prints the steps' test line
(`N: ********* epoch E ********* test accuracy:A test loss: L`, N counting batches), and at the end
`trained N iterations in X s (...)`, X from the first batch to the end, test passes included. The example
itself tests once, at the end: these 15 test passes cost it about 1 s each here, and are part of X.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tensorflowvisu  # noqa: F401  (quiets TensorFlow's start-up log)
from visualiser import device  # (the same thread pools as the steps)
import mnistdata


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0, help="keras.utils.set_random_seed (weights, dropout, shuffling)")
    p.add_argument("--epochs", type=int, default=15, help="epochs (default 15, the example's)")
    p.add_argument("--threads", type=int, help="TensorFlow's intra-op threads (default as the steps')")
    p.add_argument("--text", action="store_true", help="accepted for the steps' command line; always text")
    args = p.parse_args(argv)
    import tensorflow  # noqa: F401  (imported before its thread pools are set)
    device.set_threads(args.threads)
    import keras
    from keras import layers

    keras.utils.set_random_seed(args.seed)
    mnist = mnistdata.read_data_sets(None, one_hot=True, reshape=False, seed=args.seed)
    x_train, y_train = mnist.train.images, mnist.train.labels
    x_test, y_test = mnist.test.images, mnist.test.labels
    print(device.device_line() + f"; Keras {keras.__version__}; display: text", flush=True)

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    steps_per_epoch = -(-int(len(x_train) * 0.9) // 128)

    class TestEveryEpoch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.best, self.epochs_done, self.ended = time.perf_counter(), 0.0, 0, False

        def on_epoch_end(self, epoch, logs=None):
            loss, acc = self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
            self.best, self.epochs_done = max(self.best, acc), epoch + 1
            n = (epoch + 1) * steps_per_epoch
            print(f"{n}: accuracy:{logs['accuracy']:.4f} loss: {logs['loss'] * 100:.4f}", flush=True)
            print(f"{n}: ********* epoch {epoch + 1} ********* test accuracy:{acc:.4f} test loss: {loss * 100:.6f}",
                  flush=True)

        def on_train_end(self, logs=None):
            if self.ended:
                return
            self.ended = True
            seconds = time.perf_counter() - self.start
            done = max(self.epochs_done, 1) * steps_per_epoch
            print(f"trained {done:,} iterations in {seconds:.1f} s ({seconds / done * 100:.2f} s per 100 iterations,"
                  " tests included)", flush=True)

    callback = TestEveryEpoch()
    try:
        model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=0,
                  callbacks=[callback])
    except KeyboardInterrupt:           # benchmarks/speed.py --until stops a run at its target
        callback.on_train_end()
    print(f"max test accuracy: {callback.best:.4f}", flush=True)


if __name__ == "__main__":
    main()
