# Step 4.2 of "TensorFlow and deep learning, without a PhD": a batch-normalised convolutional network.
# Batch norm before every ReLU (over the batch and the image positions of each channel) lets a much wider
# network (24, 48, 64 channels) train fast at a high learning rate; dropout stays on the dense layer.
# Run: python3 mnist_4.2_batchnorm_convolutional.py
import math
import tensorflowvisu  # the course's visualiser, and the flags every step takes (--help)
flags = tensorflowvisu.flags()  # first: --help and a mistyped flag answer before TensorFlow loads
import mnistdata
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()  # the course's TensorFlow 1 style: a graph, placeholders, a Session
tf.set_random_seed(flags.seed)

# neural network structure for this sample:
#
# · · · · · · · · · ·      (input data, 1-deep)                 X [batch, 28, 28, 1]
# @ @ @ @ @ @ @ @ @ @   -- conv. layer +BN 6x6x1=>24 stride 1   W1 [6, 6, 1, 24]       B1 [24]
# ∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶                                           Y1 [batch, 28, 28, 24]
#   @ @ @ @ @ @ @ @     -- conv. layer +BN 5x5x24=>48 stride 2  W2 [5, 5, 24, 48]      B2 [48]
#   ∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶                                             Y2 [batch, 14, 14, 48]
#     @ @ @ @ @ @       -- conv. layer +BN 4x4x48=>64 stride 2  W3 [4, 4, 48, 64]      B3 [64]
#     ∶∶∶∶∶∶∶∶∶∶∶                                               Y3 [batch, 7, 7, 64] => reshaped to YY [batch, 7*7*64]
#      \x/x\x\x/ ✞      -- fully connected layer (relu+BN+dropout) W4 [7*7*64, 200]    B4 [200]
#       · · · ·                                                 Y4 [batch, 200]
#       \x/x\x/         -- fully connected layer (softmax)      W5 [200, 10]           B5 [10]
#        · · ·                                                  Y [batch, 10]

mnist = mnistdata.read_data_sets(flags.data_dir, one_hot=True, reshape=False, seed=flags.seed)

# input X: 28x28 greyscale images; the first dimension (None) indexes the images of the mini-batch
X = tf.placeholder(tf.float32, [None, 28, 28, 1])
# correct answers go here
Y_ = tf.placeholder(tf.float32, [None, 10])
# variable learning rate
lr = tf.placeholder(tf.float32)
# probability of keeping a neuron = 1 - dropout rate: 0.75 when training, 1.0 when testing
pkeep = tf.placeholder(tf.float32)
# test flag for batch norm: normalise with the averages over training when testing
tst = tf.placeholder(tf.bool)
iter = tf.placeholder(tf.int32)

# three convolutional layers with their channel counts, and a fully connected layer (the last layer has
# 10 softmax neurons)
K = 24  # first convolutional layer output depth
L = 48  # second convolutional layer output depth
M = 64  # third convolutional layer
N = 200  # fully connected layer
# A convolutional layer's weights are patches [height, width, input channels, output channels], slid over
# the image: each output channel is one learned 6x6 (then 5x5, 4x4) filter. The biases B serve as batch norm's
# offsets (at 0.1 as usual before ReLU); no scales with ReLU.
W1 = tf.Variable(tf.truncated_normal([6, 6, 1, K], stddev=0.1))  # 6x6 patch, 1 input channel, K output channels
B1 = tf.Variable(tf.ones([K]) / 10)
W2 = tf.Variable(tf.truncated_normal([5, 5, K, L], stddev=0.1))
B2 = tf.Variable(tf.ones([L]) / 10)
W3 = tf.Variable(tf.truncated_normal([4, 4, L, M], stddev=0.1))
B3 = tf.Variable(tf.ones([M]) / 10)

W4 = tf.Variable(tf.truncated_normal([7 * 7 * M, N], stddev=0.1))
B4 = tf.Variable(tf.ones([N]) / 10)
W5 = tf.Variable(tf.truncated_normal([N, 10], stddev=0.1))
B5 = tf.Variable(tf.ones([10]) / 10)



# Batch norm: normalise each neuron's input over the mini-batch (mean 0, variance 1), then offset it with
# a learned bias. For a convolutional layer, a channel's statistics are taken over the batch AND every
# position in the image, since the same filter produced them all. Testing uses the moving averages of the
# training batches' statistics, so that a test digit's answer never depends on the other digits.
def batchnorm(Ylogits, is_test, iteration, offset, convolutional=False):
    exp_moving_avg = tf.train.ExponentialMovingAverage(0.999, iteration)  # iteration: no averaging over
    bnepsilon = 1e-5                                                       # iterations that did not happen
    if convolutional:
        mean, variance = tf.nn.moments(Ylogits, [0, 1, 2])
    else:
        mean, variance = tf.nn.moments(Ylogits, [0])
    update_moving_averages = exp_moving_avg.apply([mean, variance])
    m = tf.cond(is_test, lambda: exp_moving_avg.average(mean), lambda: mean)
    v = tf.cond(is_test, lambda: exp_moving_avg.average(variance), lambda: variance)
    Ybn = tf.nn.batch_normalization(Ylogits, m, v, offset, None, bnepsilon)
    return Ybn, update_moving_averages


# the model
# stride 1 keeps 28x28; each stride 2 halves the size: 28x28 -> 14x14 -> 7x7 ("SAME" pads the borders)
stride = 1  # output is 28x28
Y1l = tf.nn.conv2d(X, W1, strides=[1, stride, stride, 1], padding='SAME')
Y1bn, update_ema1 = batchnorm(Y1l, tst, iter, B1, convolutional=True)
Y1 = tf.nn.relu(Y1bn)
stride = 2  # output is 14x14
Y2l = tf.nn.conv2d(Y1, W2, strides=[1, stride, stride, 1], padding='SAME')
Y2bn, update_ema2 = batchnorm(Y2l, tst, iter, B2, convolutional=True)
Y2 = tf.nn.relu(Y2bn)
stride = 2  # output is 7x7
Y3l = tf.nn.conv2d(Y2, W3, strides=[1, stride, stride, 1], padding='SAME')
Y3bn, update_ema3 = batchnorm(Y3l, tst, iter, B3, convolutional=True)
Y3 = tf.nn.relu(Y3bn)

# reshape the output from the third convolution for the fully connected layer
YY = tf.reshape(Y3, shape=[-1, 7 * 7 * M])

Y4l = tf.matmul(YY, W4)
Y4bn, update_ema4 = batchnorm(Y4l, tst, iter, B4)
Y4 = tf.nn.relu(Y4bn)
YY4 = tf.nn.dropout(Y4, rate=1 - pkeep)
Ylogits = tf.matmul(YY4, W5) + B5
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

    # learning rate decay: from 0.02 down to 0.0001, by a factor e every 1,600 iterations (batch norm
    # lets the network train at a rate several times higher than step 3.1's)
    max_learning_rate = 0.02
    min_learning_rate = 0.0001
    decay_speed = 1600.0
    learning_rate = min_learning_rate + (max_learning_rate - min_learning_rate) * math.exp(-i / decay_speed)

    # compute training values for the panels
    if update_train_data:
        a, c, im, w, b = sess.run([accuracy, cross_entropy, I, allweights, allbiases],
                                  feed_dict={X: batch_X, Y_: batch_Y, pkeep: 1.0, tst: False, iter: i})
        datavis.append_training_curves_data(i, a, c)
        datavis.append_data_histograms(i, w, b)
        datavis.update_image1(im)
        print(str(i) + ": accuracy:" + str(a) + " loss: " + str(c) + " (lr:" + str(learning_rate) + ")")

    # compute test values for the panels: on all 10,000 test digits
    if update_test_data:
        a, c, im = sess.run([accuracy, cross_entropy, It],
                            feed_dict={X: mnist.test.images, Y_: mnist.test.labels, pkeep: 1.0, tst: True, iter: i})
        datavis.append_test_curves_data(i, a, c)
        datavis.update_image2(im)
        print(str(i) + ": ********* epoch " + str(i * 100 // mnist.train.images.shape[0] + 1) +
              " ********* test accuracy:" + str(a) + " test loss: " + str(c))

    # the backpropagation training step, and the moving averages of this batch's means and variances
    sess.run([train_step, update_ema], feed_dict={X: batch_X, Y_: batch_Y, lr: learning_rate, pkeep: 0.75, tst: False, iter: i})


datavis.animate(training_step, iterations=10000 + 1, train_data_update_freq=20, test_data_update_freq=100,
                more_tests_at_start=True)

# to train without the panels, run with --text (the same lines print; nothing draws)

print("max test accuracy: " + str(datavis.get_max_test_accuracy()))

# Measured on this code: see the README's table (python3 benchmarks/ladder.py).
