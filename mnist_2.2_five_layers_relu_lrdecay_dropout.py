# Step 2.2 of "TensorFlow and deep learning, without a PhD": five layers, ReLU, lr decay, dropout.
# 2.1 learns the training set by heart and its test loss climbs again (overfitting). Dropout switches off
# a random quarter of the neurons at every training step, so no neuron can rely on another.
# Run: python3 mnist_2.2_five_layers_relu_lrdecay_dropout.py
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
# \x/x\x/x\x/x\x/x\x/       -- fully connected layer (relu+dropout) W1 [784, 200]      B1[200]
#  · · · · · · · · ·                                                Y1 [batch, 200]
#   \x/x\x/x\x/x\x/         -- fully connected layer (relu+dropout) W2 [200, 100]      B2[100]
#    · · · · · · ·                                                  Y2 [batch, 100]
#     \x/x\x/x\x/           -- fully connected layer (relu+dropout) W3 [100, 60]       B3[60]
#      · · · · ·                                                    Y3 [batch, 60]
#       \x/x\x/             -- fully connected layer (relu+dropout) W4 [60, 30]        B4[30]
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
# probability of keeping a neuron = 1 - dropout rate: 0.75 when training, 1.0 when testing
pkeep = tf.placeholder(tf.float32)

# five layers and their number of neurons (the last layer has 10 softmax neurons)
L = 200
M = 100
N = 60
O = 30
# Weights initialised with small random values between -0.2 and +0.2: with several layers, all-zero
# weights would make every neuron of a layer compute (and learn) the same thing. With ReLU, biases start at
# a small positive 0.1 so that no neuron begins switched off (ReLU outputs 0 and learns nothing below 0).
W1 = tf.Variable(tf.truncated_normal([784, L], stddev=0.1))  # 784 = 28 * 28
B1 = tf.Variable(tf.ones([L]) / 10)
W2 = tf.Variable(tf.truncated_normal([L, M], stddev=0.1))
B2 = tf.Variable(tf.ones([M]) / 10)
W3 = tf.Variable(tf.truncated_normal([M, N], stddev=0.1))
B3 = tf.Variable(tf.ones([N]) / 10)
W4 = tf.Variable(tf.truncated_normal([N, O], stddev=0.1))
B4 = tf.Variable(tf.ones([O]) / 10)
W5 = tf.Variable(tf.truncated_normal([O, 10], stddev=0.1))
B5 = tf.Variable(tf.zeros([10]))

# the model
XX = tf.reshape(X, [-1, 784])
Y1 = tf.nn.relu(tf.matmul(XX, W1) + B1)
Y1d = tf.nn.dropout(Y1, rate=1 - pkeep)
Y2 = tf.nn.relu(tf.matmul(Y1d, W2) + B2)
Y2d = tf.nn.dropout(Y2, rate=1 - pkeep)
Y3 = tf.nn.relu(tf.matmul(Y2d, W3) + B3)
Y3d = tf.nn.dropout(Y3, rate=1 - pkeep)
Y4 = tf.nn.relu(tf.matmul(Y3d, W4) + B4)
Y4d = tf.nn.dropout(Y4, rate=1 - pkeep)
Ylogits = tf.matmul(Y4d, W5) + B5
Y = tf.nn.softmax(Ylogits)

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
datavis = tensorflowvisu.MnistDataVis()

init = tf.global_variables_initializer()
sess = tf.Session()
sess.run(init)


# one iteration: learn from one mini-batch of 100 digits; now and then, measure and show
def training_step(i, update_test_data, update_train_data):

    # training on batches of 100 images with 100 labels
    batch_X, batch_Y = mnist.train.next_batch(100)

    # learning rate decay: from 0.003 down to 0.0001, by a factor e every 2,000 iterations
    max_learning_rate = 0.003
    min_learning_rate = 0.0001
    decay_speed = 2000.0
    learning_rate = min_learning_rate + (max_learning_rate - min_learning_rate) * math.exp(-i / decay_speed)

    # compute training values for the panels
    if update_train_data:
        a, c, im, w, b = sess.run([accuracy, cross_entropy, I, allweights, allbiases],
                                  feed_dict={X: batch_X, Y_: batch_Y, pkeep: 1.0})
        datavis.append_training_curves_data(i, a, c)
        datavis.append_data_histograms(i, w, b)
        datavis.update_image1(im)
        print(str(i) + ": accuracy:" + str(a) + " loss: " + str(c) + " (lr:" + str(learning_rate) + ")")

    # compute test values for the panels: on all 10,000 test digits
    if update_test_data:
        a, c, im = sess.run([accuracy, cross_entropy, It],
                            feed_dict={X: mnist.test.images, Y_: mnist.test.labels, pkeep: 1.0})
        datavis.append_test_curves_data(i, a, c)
        datavis.update_image2(im)
        print(str(i) + ": ********* epoch " + str(i * 100 // mnist.train.images.shape[0] + 1) +
              " ********* test accuracy:" + str(a) + " test loss: " + str(c))

    # the backpropagation training step
    sess.run(train_step, feed_dict={X: batch_X, Y_: batch_Y, lr: learning_rate, pkeep: 0.75})


datavis.animate(training_step, iterations=flags.iterations or 10000 + 1, train_data_update_freq=20,
                test_data_update_freq=100, more_tests_at_start=True)

# to train without the panels, run with --text (the same lines print; nothing draws)

print("max test accuracy: " + str(datavis.get_max_test_accuracy()))

# Measured on this code: see the README's table (python3 benchmarks/ladder.py).
