# Step 4.0 of "TensorFlow and deep learning, without a PhD": batch normalisation, five sigmoid layers.
# Step 2.0's slow start came from sigmoids fed values far from 0, where they are flat. Batch norm
# re-centres and re-scales every neuron's input over the mini-batch, then learns its own offset and scale.
# Run: python3 mnist_4.0_batchnorm_five_layers_sigmoid.py
import math
import tensorflowvisu  # the course's visualiser, and the flags every step takes (--help)
flags = tensorflowvisu.flags()  # first: --help and a mistyped flag answer before TensorFlow loads
import mnistdata
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()  # the course's TensorFlow 1 style: a graph, placeholders, a Session
tf.set_random_seed(flags.seed)

# neural network with 5 layers
#
# · · · · · · · · · ·          (input data, flattened pixels)       X [batch, 784]   # 784 = 28*28
# \x/x\x/x\x/x\x/x\x/       -- fully connected layer (bn+sigm.)     W1 [784, 200]  B1,S1[200]
#  · · · · · · · · ·                                                Y1 [batch, 200]
#   \x/x\x/x\x/x\x/         -- fully connected layer (bn+sigm.)     W2 [200, 100]  B2,S2[100]
#    · · · · · · ·                                                  Y2 [batch, 100]
#     \x/x\x/x\x/           -- fully connected layer (bn+sigm.)     W3 [100, 60]   B3,S3[60]
#      · · · · ·                                                    Y3 [batch, 60]
#       \x/x\x/             -- fully connected layer (bn+sigm.)     W4 [60, 30]    B4,S4[30]
#        · · ·                                                      Y4 [batch, 30]
#         \x/               -- fully connected layer (softmax)      W5 [30, 10]        B5[10]
#          ·                                                        Y5 [batch, 10]

mnist = mnistdata.read_data_sets(flags.data_dir, one_hot=True, reshape=False, seed=flags.seed)

# input X: 28x28 greyscale images; the first dimension (None) indexes the images of the mini-batch
X = tf.placeholder(tf.float32, [None, 28, 28, 1])
# correct answers go here
Y_ = tf.placeholder(tf.float32, [None, 10])
# variable learning rate
lr = tf.placeholder(tf.float32)
# test flag for batch norm: normalise with the averages over training when testing
tst = tf.placeholder(tf.bool)
iter = tf.placeholder(tf.int32)

# five layers and their number of neurons (the last layer has 10 softmax neurons)
L = 200
M = 100
N = 60
O = 30
# Weights initialised with small random values between -0.2 and +0.2: with several layers, all-zero
# weights would make every neuron of a layer compute (and learn) the same thing. Batch norm's offsets B
# take the place of the biases; its scales S start at 1.
W1 = tf.Variable(tf.truncated_normal([784, L], stddev=0.1))  # 784 = 28 * 28
S1 = tf.Variable(tf.ones([L]))
B1 = tf.Variable(tf.zeros([L]))
W2 = tf.Variable(tf.truncated_normal([L, M], stddev=0.1))
S2 = tf.Variable(tf.ones([M]))
B2 = tf.Variable(tf.zeros([M]))
W3 = tf.Variable(tf.truncated_normal([M, N], stddev=0.1))
S3 = tf.Variable(tf.ones([N]))
B3 = tf.Variable(tf.zeros([N]))
W4 = tf.Variable(tf.truncated_normal([N, O], stddev=0.1))
S4 = tf.Variable(tf.ones([O]))
B4 = tf.Variable(tf.zeros([O]))
W5 = tf.Variable(tf.truncated_normal([O, 10], stddev=0.1))
B5 = tf.Variable(tf.zeros([10]))



# Batch norm: normalise each neuron's input over the mini-batch (mean 0, variance 1), then scale and
# offset it with learned S and B. Testing uses the moving averages of the training batches' statistics,
# so that a test digit's answer never depends on the other digits of its batch.
def batchnorm(Ylogits, is_test, iteration, offset, scale):
    exp_moving_avg = tf.train.ExponentialMovingAverage(0.998, iteration)  # iteration: no averaging over
    bnepsilon = 1e-5                                                       # iterations that did not happen
    mean, variance = tf.nn.moments(Ylogits, [0])
    update_moving_averages = exp_moving_avg.apply([mean, variance])
    m = tf.cond(is_test, lambda: exp_moving_avg.average(mean), lambda: mean)
    v = tf.cond(is_test, lambda: exp_moving_avg.average(variance), lambda: variance)
    Ybn = tf.nn.batch_normalization(Ylogits, m, v, offset, scale, bnepsilon)
    return Ybn, update_moving_averages


# the model
XX = tf.reshape(X, [-1, 784])
Y1l = tf.matmul(XX, W1)
Y1bn, update_ema1 = batchnorm(Y1l, tst, iter, B1, S1)
Y1 = tf.nn.sigmoid(Y1bn)
Y2l = tf.matmul(Y1, W2)
Y2bn, update_ema2 = batchnorm(Y2l, tst, iter, B2, S2)
Y2 = tf.nn.sigmoid(Y2bn)
Y3l = tf.matmul(Y2, W3)
Y3bn, update_ema3 = batchnorm(Y3l, tst, iter, B3, S3)
Y3 = tf.nn.sigmoid(Y3bn)
Y4l = tf.matmul(Y3, W4)
Y4bn, update_ema4 = batchnorm(Y4l, tst, iter, B4, S4)
Y4 = tf.nn.sigmoid(Y4bn)
Ylogits = tf.matmul(Y4, W5) + B5
Y = tf.nn.softmax(Ylogits)

update_ema = tf.group(update_ema1, update_ema2, update_ema3, update_ema4)

# loss: cross-entropy computed from the logits, not from log(softmax): log(0) is -inf and its gradient
# NaN as soon as one probability underflows; TensorFlow's fused op stays finite. The mean over the batch,
# *100 so that training and test losses read on the course's scale.
cross_entropy = tf.nn.softmax_cross_entropy_with_logits_v2(logits=Ylogits, labels=Y_)
cross_entropy = tf.reduce_mean(cross_entropy) * 100

# accuracy of the trained model, between 0 (worst) and 1 (best)
correct_prediction = tf.equal(tf.argmax(Y, 1), tf.argmax(Y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

# training: the Adam optimiser, with the learning rate fed at every step (it decays, see training_step)
train_step = tf.train.AdamOptimizer(lr).minimize(cross_entropy)

# for the panels: every weight, every bias, and the digits as images with the mistakes marked
allweights = tf.concat([tf.reshape(W1, [-1]), tf.reshape(W2, [-1]), tf.reshape(W3, [-1]),
                        tf.reshape(W4, [-1]), tf.reshape(W5, [-1])], 0)
allbiases = tf.concat([tf.reshape(B1, [-1]), tf.reshape(B2, [-1]), tf.reshape(B3, [-1]),
                       tf.reshape(B4, [-1]), tf.reshape(B5, [-1])], 0)
I = tensorflowvisu.tf_format_mnist_images(X, Y, Y_)  # 100 training digits, 10 lines
It = tensorflowvisu.tf_format_mnist_images(X, Y, Y_, 1000, lines=25)  # 1000 test digits, mistakes first
datavis = tensorflowvisu.MnistDataVis(biases_title="offsets (batch norm) and biases")

init = tf.global_variables_initializer()
sess = tf.Session()
sess.run(init)


# one iteration: learn from one mini-batch of 100 digits; now and then, measure and show
def training_step(i, update_test_data, update_train_data):

    # training on batches of 100 images with 100 labels
    batch_X, batch_Y = mnist.train.next_batch(100)

    # learning rate decay: from 0.03 down to 0.0001, by a factor e every 1,000 iterations (batch norm
    # lets the network train at a rate ten times higher than step 2.1's)
    max_learning_rate = 0.03
    min_learning_rate = 0.0001
    decay_speed = 1000.0
    learning_rate = min_learning_rate + (max_learning_rate - min_learning_rate) * math.exp(-i / decay_speed)

    # compute training values for the panels
    if update_train_data:
        a, c, im, w, b = sess.run([accuracy, cross_entropy, I, allweights, allbiases],
                                  feed_dict={X: batch_X, Y_: batch_Y, tst: False, iter: i})
        datavis.append_training_curves_data(i, a, c)
        datavis.append_data_histograms(i, w, b)
        datavis.update_image1(im)
        print(str(i) + ": accuracy:" + str(a) + " loss: " + str(c) + " (lr:" + str(learning_rate) + ")")

    # compute test values for the panels: on all 10,000 test digits
    if update_test_data:
        a, c, im = sess.run([accuracy, cross_entropy, It],
                            feed_dict={X: mnist.test.images, Y_: mnist.test.labels, tst: True, iter: i})
        datavis.append_test_curves_data(i, a, c)
        datavis.update_image2(im)
        print(str(i) + ": ********* epoch " + str(i * 100 // mnist.train.images.shape[0] + 1) +
              " ********* test accuracy:" + str(a) + " test loss: " + str(c))

    # the backpropagation training step, and the moving averages of this batch's means and variances
    sess.run([train_step, update_ema], feed_dict={X: batch_X, Y_: batch_Y, lr: learning_rate, tst: False, iter: i})


datavis.animate(training_step, iterations=flags.iterations or 10000 + 1, train_data_update_freq=20,
                test_data_update_freq=100, more_tests_at_start=True)

# to train without the panels, run with --text (the same lines print; nothing draws)

print("max test accuracy: " + str(datavis.get_max_test_accuracy()))

# Measured on this code: see the README's table (python3 benchmarks/ladder.py).
