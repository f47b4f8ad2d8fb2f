"""--logdir DIR: the run for TensorBoard, in DIR/<step> (DIR/3.1_convolutional_bigger_dropout, say), so that

    tensorboard --logdir DIR

compares the steps run with the same DIR: scalars accuracy/training, accuracy/test, loss/training and
loss/test (the panels' curves, at the same iterations), histograms `weights` and `biases` (every weight and
every bias of the network, as the panels' bands summarise them), and the graph. Written with TensorFlow 1's
FileWriter and Summary protos built here, since the scripts run in graph mode; a second run of the same step
goes to DIR/<step>-2, and so on, so that runs never mix. Cost: one np.histogram per panel update; the file is
written by FileWriter's own thread and flushed every 5 s, so TensorBoard follows a run while it trains.
"""
import atexit
import os

import numpy as np

BUCKETS = 30


def run_folder(logdir, title):
    """DIR/<step name>, or DIR/<step name>-2, -3 ... when that one exists: made here, atomically, so that two
    runs started together never share a folder."""
    name = title[len("mnist_"):] if title.startswith("mnist_") else title
    os.makedirs(logdir, exist_ok=True)
    for n in range(1, 10000):
        path = os.path.join(logdir, name if n == 1 else f"{name}-{n}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    from .loop import UserError
    raise UserError(f"tensorflowvisu: --logdir {logdir} holds 10,000 runs of {name} already")


class Board:
    """The events of one run of `vis` (a MnistDataVis), fed by its append_* calls."""

    def __init__(self, vis, logdir):
        import tensorflow.compat.v1 as tf
        self.tf, self.path = tf, run_folder(logdir, vis.title)
        graph = tf.get_default_graph()     # the script's model, built before MnistDataVis: the Graphs tab
        graph = graph if graph.get_operations() else None
        with tf.Graph().as_default():      # FileWriter refuses eager mode (a notebook cell without disable_v2)
            self.writer = tf.summary.FileWriter(self.path, graph=graph, flush_secs=5)
        self.closed = False
        atexit.register(self.close)        # also for a script that loops by hand, without animate()
        print(f"TensorBoard: this run goes to {self.path} (to compare the runs: tensorboard --logdir {logdir})",
              flush=True)

    def scalars(self, i, kind, accuracy, loss):
        """kind: 'training' (the batch) or 'test' (all the test digits)."""
        value = self.tf.Summary.Value
        self.writer.add_summary(self.tf.Summary(value=[value(tag=f"accuracy/{kind}", simple_value=accuracy),
                                                       value(tag=f"loss/{kind}", simple_value=loss)]), i)

    def histograms(self, i, weights, biases):
        value = self.tf.Summary.Value
        values = [value(tag=tag, histo=self.histogram(v)) for tag, v in (("weights", weights), ("biases", biases))]
        self.writer.add_summary(self.tf.Summary(value=[v for v in values if v.histo.num]), i)

    def histogram(self, values):
        v = np.ravel(np.asarray(values, np.float64))
        v = v[np.isfinite(v)]
        if not v.size:
            return self.tf.HistogramProto()
        counts, edges = np.histogram(v, bins=BUCKETS)
        return self.tf.HistogramProto(min=v.min(), max=v.max(), num=v.size, sum=v.sum(), sum_squares=v @ v,
                                      bucket_limit=edges[1:].tolist(), bucket=counts.tolist())

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()
