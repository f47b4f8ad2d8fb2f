"""The exercises, as data: for each step, the task in our words, the marks that go into the learner's copy of
the previous step's script (a line to find, and what to do there), how long `course.py check` trains it
(iterations: N + 1, as the course counts, so that the last test, at N, is one the step's reference run
made too) and how long the step's reference runs are (recorded: benchmarks/tutor_curves.py), and a hint.
WHY holds what each kind of difference means, for the check's answers.

A mark is (text found in a line of the previous step's script, the instruction): exercise.py puts
"# EXERCISE: instruction" above the first line holding that text, searching on from the previous mark.
tests/test_exercises.py checks that every change of the step's script has a mark near it.
"""

EXERCISES = {
    "2.0": dict(
        iterations=1001, recorded=3000,
        task="Deepen the network: four hidden layers of 200, 100, 60 and 30 sigmoid neurons go in front of "
             "the 10 softmax neurons. Start the weights random and the biases at zero, compute the loss from "
             "the logits, and train with Adam.",
        marks=[
            ("W = tf.Variable(", "a weight matrix and a bias vector per layer: W1 [784, 200] and B1 [200], then "
                                 "[200, 100], [100, 60], [60, 30], and W5 [30, 10] with B5 [10]. Weights random: "
                                 "tf.truncated_normal(shape, stddev=0.1); biases tf.zeros"),
            ("Y = tf.nn.softmax(", "Y1 = tf.nn.sigmoid(tf.matmul(XX, W1) + B1), then Y2, Y3 and Y4 the same way, "
                                   "each reading the one before; Ylogits = tf.matmul(Y4, W5) + B5 and "
                                   "Y = tf.nn.softmax(Ylogits)"),
            ("cross_entropy = ", "the loss from the logits, which never takes log(0): "
                                 "tf.nn.softmax_cross_entropy_with_logits_v2(logits=Ylogits, labels=Y_), its "
                                 "tf.reduce_mean over the batch, times 100"),
            ("train_step = ", "Adam instead of plain gradient descent: tf.train.AdamOptimizer(0.003)"),
            ("allweights = ", "the panels show every layer: tf.concat the flattened W1 .. W5 here, and B1 .. B5 "
                              "in allbiases"),
            ("datavis.animate(", "the course's run for this step: 10000 + 1 iterations, training figures every "
                                 "20, tests every 100"),
        ],
        hint="one line per layer; the softmax is applied once, to the last layer's logits"),
    "2.1": dict(
        iterations=1001, recorded=3000,
        task="Swap the sigmoids for ReLUs, start the hidden layers' biases at 0.1, and let the learning rate "
             "decay: a placeholder lr, fed at every iteration with 0.0001 + (0.003 - 0.0001) * exp(-i/2000).",
        marks=[
            ("import mnistdata", "the decay needs math.exp: import math"),
            ("Y_ = tf.placeholder(", "a placeholder for the learning rate: lr = tf.placeholder(tf.float32)",
             "below"),
            ("B1 = tf.Variable(", "the biases of the four ReLU layers start at 0.1: tf.ones([L]) / 10 (B5 stays "
                                  "at zero)"),
            ("Y1 = tf.nn.sigmoid(", "tf.nn.relu instead of tf.nn.sigmoid in the four hidden layers"),
            ("train_step = ", "Adam takes the placeholder: tf.train.AdamOptimizer(lr)"),
            ("mnist.train.next_batch(", "this iteration's rate: learning_rate = 0.0001 + (0.003 - 0.0001) * "
                                        "math.exp(-i/2000)"),
            ('print(str(i) + ": accuracy:"', "(optional) print it too: + \" (lr:\" + str(learning_rate) + \")\""),
            ("sess.run(train_step,", "feed it: lr: learning_rate"),
        ],
        hint="the rate is a Python number computed in training_step and fed through the placeholder lr"),
    "2.2": dict(
        iterations=1001, recorded=3000,
        task="Add dropout after each of the four hidden layers: a placeholder pkeep, the probability of "
             "keeping a neuron; tf.nn.dropout(Yk, rate=1 - pkeep) after each ReLU, the next layer reading the "
             "result. Feed pkeep 0.75 in the training step and 1.0 whenever you measure.",
        marks=[
            ("lr = tf.placeholder(", "pkeep = tf.placeholder(tf.float32)", "below"),
            ("Y1 = tf.nn.relu(", "after each hidden layer: Y1d = tf.nn.dropout(Y1, rate=1 - pkeep), and the next "
                                 "layer multiplies Y1d, not Y1 (the same for Y2d, Y3d, Y4d)"),
            ("Y_: batch_Y})", "measuring: pkeep: 1.0 (every neuron)"),
            ("Y_: mnist.test.labels})", "testing: pkeep: 1.0 too (dropout is for training only)"),
            ("sess.run(train_step,", "training: pkeep: 0.75"),
        ],
        hint="dropout is only for training: feed pkeep 1.0 for the training figures and the test"),
    "3.0": dict(
        iterations=601, recorded=3000,
        task="Go convolutional: three convolutional layers, then a dense layer of 200 and the softmax layer. "
             "Patches 5x5 (1 to 4 channels, stride 1: 28x28), 5x5 (4 to 8, stride 2: 14x14), 4x4 (8 to 12, "
             "stride 2: 7x7), padding 'SAME', ReLU, biases at 0.1. The images stay 28x28x1; the third layer's "
             "output is reshaped into one row per image for the dense layer. No dropout in this step.",
        marks=[
            ("pkeep = tf.placeholder(", "no dropout in this step: remove pkeep here and in the feeds below"),
            ("L = 200", "the convolutions' output channels K = 4, L = 8, M = 12, and N = 200 dense neurons"),
            ("W1 = tf.Variable(", "convolution weights are patches [height, width, input channels, output "
                                  "channels]: W1 [5, 5, 1, K], W2 [5, 5, K, L], W3 [4, 4, L, M]; then "
                                  "W4 [7 * 7 * M, N] and W5 [N, 10]; every bias at 0.1"),
            ("XX = tf.reshape(", "no flattening first: Y1 = tf.nn.relu(tf.nn.conv2d(X, W1, strides=[1, 1, 1, 1], "
                                 "padding='SAME') + B1), then Y2 and Y3 with strides [1, 2, 2, 1]; "
                                 "YY = tf.reshape(Y3, shape=[-1, 7 * 7 * M]); Y4 = ReLU of YY W4 + B4; "
                                 "Ylogits = tf.matmul(Y4, W5) + B5; no dropout"),
            ("Y_: batch_Y, pkeep: 1.0})", "no pkeep to feed any more"),
            ("Y_: mnist.test.labels, pkeep: 1.0})", "no pkeep here either"),
            ("sess.run(train_step,", "nor here"),
            ("datavis.animate(", "this step shows its training figures every 10 iterations"),
        ],
        hint="stride 2 halves the image (28 -> 14 -> 7), and the dense layer's W4 is sized for what is left"),
    "3.1": dict(
        iterations=601, recorded=3000,
        task="A bigger convolutional network with dropout: 6, 12 and 24 channels, a 6x6 first patch, and "
             "dropout on the dense layer's output only (pkeep 0.75 when training, 1.0 when measuring).",
        marks=[
            ("lr = tf.placeholder(", "pkeep = tf.placeholder(tf.float32)", "below"),
            ("K = 4", "more channels: K = 6, L = 12, M = 24"),
            ("W1 = tf.Variable(", "a larger first patch: [6, 6, 1, K]"),
            ("Ylogits = tf.matmul(Y4, W5)", "dropout on the dense layer only: YY4 = tf.nn.dropout(Y4, rate=1 - "
                                            "pkeep), and the softmax layer multiplies YY4"),
            ("Y_: batch_Y})", "measuring: pkeep: 1.0"),
            ("Y_: mnist.test.labels})", "testing: pkeep: 1.0"),
            ("sess.run(train_step,", "training: pkeep: 0.75"),
            ("datavis.animate(", "training figures every 20 iterations"),
        ],
        hint="dropout sits on the dense layer, not on the convolutions"),
    "4.0": dict(
        iterations=1001, recorded=3000,
        task="Batch normalisation in step 2.0's network: each hidden layer computes tf.matmul(previous, Wk) "
             "without a bias, normalises it over the batch with a learned offset Bk (at 0) and scale Sk (at 1), "
             "then applies the sigmoid. When testing, batch norm uses moving averages (decay 0.998) of the "
             "training batches' means and variances. The learning rate decays from 0.03 to 0.0001 (T 1,000).",
        marks=[
            ("import mnistdata", "the decay needs math.exp: import math"),
            ("Y_ = tf.placeholder(", "lr = tf.placeholder(tf.float32), tst = tf.placeholder(tf.bool) (True "
                                     "when testing) and iter = tf.placeholder(tf.int32)", "below"),
            ("B1 = tf.Variable(", "a scale per layer beside each offset: S1 = tf.Variable(tf.ones([L])), ... S4"),
            ("# the model", "above the model: def batchnorm(Ylogits, is_test, iteration, offset, scale) taking the "
                            "batch's mean and variance with tf.nn.moments(Ylogits, [0]), keeping their moving "
                            "averages (tf.train.ExponentialMovingAverage(0.998, iteration).apply([mean, variance])), "
                            "choosing them when is_test (tf.cond) and returning tf.nn.batch_normalization(Ylogits, "
                            "m, v, offset, scale, 1e-5) and the averages' update op"),
            ("Y1 = tf.nn.sigmoid(", "per layer: Y1l = tf.matmul(XX, W1); Y1bn, update_ema1 = batchnorm(Y1l, tst, "
                                    "iter, B1, S1); Y1 = tf.nn.sigmoid(Y1bn); the same for 2, 3 and 4"),
            ("Y = tf.nn.softmax(", "gather the updates: update_ema = tf.group(update_ema1, ..., update_ema4)"),
            ("train_step = ", "Adam takes the placeholder: tf.train.AdamOptimizer(lr)"),
            ("MnistDataVis()", "(optional) name panel 5 for what it shows: MnistDataVis(biases_title=\"offsets "
                               "(batch norm) and biases\")"),
            ("mnist.train.next_batch(", "this iteration's rate: 0.0001 + (0.03 - 0.0001) * math.exp(-i/1000)"),
            ("Y_: batch_Y})", "measuring the training batch: tst: False, iter: i"),
            ('print(str(i) + ": accuracy:"', "(optional) print the rate too"),
            ("Y_: mnist.test.labels})", "testing: tst: True (the moving averages), iter: i"),
            ("sess.run(train_step,", "run the averages' update with the step: sess.run([train_step, update_ema], "
                                     "feed_dict={..., lr: learning_rate, tst: False, iter: i})"),
        ],
        hint="batch norm replaces the bias (its offset does that job) and needs tst to know when it is testing"),
    "4.1": dict(
        iterations=1001, recorded=3000,
        task="ReLU instead of sigmoid, and batch norm without its scale (the next layer's weights can absorb "
             "any scale of a ReLU's output): drop S1 .. S4, start the offsets at 0.1 as ReLU biases do, pass "
             "no scale to tf.nn.batch_normalization, and let the moving averages decay at 0.999.",
        marks=[
            ("S1 = tf.Variable(", "no scales with ReLU: remove S1 .. S4; the offsets B1 .. B4 start at 0.1 "
                                  "(tf.ones([L]) / 10)"),
            ("def batchnorm(", "no scale argument, and averages decaying at 0.999"),
            ("tf.nn.batch_normalization(", "scale None"),
            ("Y1bn, update_ema1 = ", "tf.nn.relu instead of tf.nn.sigmoid, and no S in the four batchnorm calls"),
        ],
        hint="a ReLU layer's batch norm keeps its offset and drops its scale"),
    "4.2": dict(
        iterations=201, recorded=201,
        task="Batch norm in step 3.1's convolutional network, made wider (24, 48 and 64 channels): every "
             "convolution and the dense layer lose their bias and get batch norm (offset only, at 0.1) before "
             "their ReLU; for a convolution, a channel's mean and variance are taken over the batch and every "
             "position (tf.nn.moments(Y, [0, 1, 2])). Dropout stays on the dense layer. Averages decay 0.999; "
             "the learning rate decays from 0.02 to 0.0001 (T 1,600).",
        marks=[
            ("pkeep = tf.placeholder(", "tst = tf.placeholder(tf.bool) and iter = tf.placeholder(tf.int32), as "
                                        "in step 4.1", "below"),
            ("K = 6", "wider: K = 24, L = 48, M = 64"),
            ("# the model", "above the model: step 4.1's batchnorm function, with a flag convolutional=False: "
                            "when True, tf.nn.moments(Ylogits, [0, 1, 2]) (the batch and every position)"),
            ("Y1 = tf.nn.relu(", "per convolution: Y1l = tf.nn.conv2d(...) without + B1; Y1bn, update_ema1 = "
                                 "batchnorm(Y1l, tst, iter, B1, convolutional=True); Y1 = tf.nn.relu(Y1bn); the same "
                                 "for Y2 and Y3"),
            ("Y4 = tf.nn.relu(", "the dense layer too: Y4l = tf.matmul(YY, W4); batchnorm(Y4l, tst, iter, B4); "
                                 "ReLU"),
            ("Y = tf.nn.softmax(", "update_ema = tf.group(update_ema1, ..., update_ema4)"),
            ("MnistDataVis()", "(optional) biases_title=\"offsets (batch norm) and biases\""),
            ("max_learning_rate = ", "from 0.02"),
            ("decay_speed = ", "T 1600"),
            ("Y_: batch_Y, pkeep: 1.0})", "measuring: tst: False, iter: i"),
            ("Y_: mnist.test.labels, pkeep: 1.0})", "testing: tst: True, iter: i"),
            ("sess.run(train_step,", "sess.run([train_step, update_ema], feed_dict={..., tst: False, iter: i})"),
        ],
        hint="batch norm goes between each layer's multiplication and its ReLU; the bias becomes its offset"),
    "5.0": dict(
        # its one-cycle schedule spans whatever length it runs
        iterations=250, recorded=250, length_sets_schedule=True,
        task="Past the course: step 4.2's ideas spent on speed. Three 3x3 convolutions of 16, 32 and 64 "
             "channels at stride 1, each followed at once by a 2x2 max-pool, then batch norm "
             "(tf.nn.fused_batch_norm, offset only) and ReLU, on digits cropped to their middle 24x24 "
             "(24 -> 12 -> 6 -> 3); a dense layer of 128 (batch norm, ReLU), then the softmax layer [128, 10]; "
             "He initialisation; one copy of the network per core (tensorflowvisu.towers); batches of 128; SGD "
             "with Nesterov momentum 0.9 on a one-cycle learning rate (up to 0.6 over the first 30% of the run, "
             "down to 0 at its end); label smoothing and weight decay 5e-4; 250 iterations, tested twice. "
             "A rewrite more than an edit: keep step 5.0's script beside you (python3 course.py 5.0).",
        marks=[
            ("import math", "the one-cycle schedule is linear: no math; numpy instead, for the test in slices "
                            "(import numpy as np, after mnistdata)"),
            ("mnist = mnistdata", "BATCH = 128 and ITERATIONS = flags.iterations or 250", "below"),
            ("pkeep = tf.placeholder(", "no dropout and no test flag: the placeholders are X, Y_, lr and iter"),
            ("K = 24", "K = 16, L = 32, M = 64; He initialisation: stddev sqrt(2 / inputs per neuron); 3x3 "
                       "patches; W4 [3 * 3 * M, N] with N = 128 (batch norm, ReLU), W5 [N, 10]; offsets at 0"),
            ("# Batch norm: normalise", "the towers: TOWERS = tensorflowvisu.towers(flags.threads, most=4); the moving "
                                        "averages in variables of your own, one pair per convolution"),
            ("def batchnorm(", "tf.nn.fused_batch_norm, offset only: is_training=True (the batch's statistics) "
                               "when training, False (the averages) when testing, chosen in Python, not by a "
                               "tf.cond; a tower(X, testing) function builds the network for one part of the batch"),
            ("Y1l = tf.nn.conv2d(", "per stage: tf.nn.max_pool2d(tf.nn.conv2d(Y, W, strides=1, padding='SAME'), "
                                    "2, 2, 'VALID'), then batch norm and ReLU"),
            ("YY = tf.reshape(", "crop X to X[:, 2:26, 2:26, :], split it in towers (tf.split), and concatenate "
                                 "the towers' logits; the same towers with testing=True give the tests' logits"),
            ("cross_entropy = ", "the panels' loss stays the plain cross-entropy; the loss minimised smooths "
                                 "the labels (Y_ * 0.9 + 0.01) and adds 5e-4 * the sum of tf.nn.l2_loss(W)"),
            ("train_step = ", "tf.train.MomentumOptimizer(lr, momentum=0.9, use_nesterov=True), minimising the "
                              "smoothed loss"),
            ("def training_step(", "above: learning_rate_at(i): linear up to 0.6 over the first 30% of ITERATIONS, "
                                   "then linear down to 0; batches of BATCH"),
            ("if update_train_data:", "the training figures come from the training step's own run: fetch them "
                                      "with train_step and update_ema, in one sess.run; the test moves to a function "
                                      "that feeds the 10,000 test digits in slices of 1,000"),
            ("datavis.animate(", "ITERATIONS iterations, tests every ITERATIONS // 2, none at the start "
                                 "(one_test_at_start=False)"),
        ],
        hint="read step 5.0's script beside yours: course.py 5.0 shows it against 4.2"),
}

# What each kind of difference means, for the check's answers (in our words, after the course's notes).
WHY = {
    "init": "weights that all start equal (zeros) make every neuron of a layer compute, and learn, the same "
            "thing: start them random, e.g. tf.truncated_normal(shape, stddev=0.1)",
    "bias": "with ReLU, biases start at a small positive 0.1, so that no neuron starts switched off",
    "sigmoid": "a sigmoid is flat for large inputs, so the gradient fades through five of them (the slow start); "
               "a ReLU, max(0, x), does not flatten",
    "log(softmax)": "log(softmax) becomes log(0) = -inf, and the loss NaN, as soon as one probability underflows: "
                    "compute the loss from the logits, tf.nn.softmax_cross_entropy_with_logits_v2",
    "decay": "a fixed rate keeps the late curve jumping about; the step lets it decay towards 0.0001",
    "keep_test": "dropout is for training only: feed pkeep 1.0 when testing and measuring, 0.75 when training",
    "bn_test": "when testing, batch norm must use the moving averages (feed tst True), not the test batch's own "
               "statistics",
    "unfed": "every placeholder the fetched values depend on must be in the feed_dict, or sess.run stops",
    "stride": "stride 2 halves the image (28 -> 14 -> 7); stride 1 everywhere keeps 28x28 and makes every layer "
              "after it four times bigger",
}
