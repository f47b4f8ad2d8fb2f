# Step 3.1 of "TensorFlow and deep learning, without a PhD": a bigger convolutional network, with dropout.
# More channels (6, 12, 24) and larger patches give the network room to learn more; dropout on the dense
# layer keeps that room from being spent learning the training set by heart.
# Run: python3 mnist_3.1_convolutional_bigger_dropout.py
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
# @ @ @ @ @ @ @ @ @ @   -- conv. layer 6x6x1=>6 stride 1        W1 [6, 6, 1, 6]        B1 [6]
# ∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶                                           Y1 [batch, 28, 28, 6]
#   @ @ @ @ @ @ @ @     -- conv. layer 5x5x6=>12 stride 2       W2 [5, 5, 6, 12]       B2 [12]
#   ∶∶∶∶∶∶∶∶∶∶∶∶∶∶∶                                             Y2 [batch, 14, 14, 12]
#     @ @ @ @ @ @       -- conv. layer 4x4x12=>24 stride 2      W3 [4, 4, 12, 24]      B3 [24]
#     ∶∶∶∶∶∶∶∶∶∶∶                                               Y3 [batch, 7, 7, 24] => reshaped to YY [batch, 7*7*24]
#      \x/x\x\x/ ✞      -- fully connected layer (relu+dropout) W4 [7*7*24, 200]       B4 [200]
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

# three convolutional layers with their channel counts, and a fully connected layer (the last layer has
# 10 softmax neurons)
K = 6  # first convolutional layer output depth
L = 12  # second convolutional layer output depth
M = 24  # third convolutional layer
N = 200  # fully connected layer
# A convolutional layer's weights are patches [height, width, input channels, output channels], slid over
# the image: each output channel is one learned 6x6 (then 5x5, 4x4) filter. Biases at 0.1 as usual with ReLU.
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

# the model
# stride 1 keeps 28x28; each stride 2 halves the size: 28x28 -> 14x14 -> 7x7 ("SAME" pads the borders)
stride = 1  # output is 28x28
Y1 = tf.nn.relu(tf.nn.conv2d(X, W1, strides=[1, stride, stride, 1], padding='SAME') + B1)
stride = 2  # output is 14x14
Y2 = tf.nn.relu(tf.nn.conv2d(Y1, W2, strides=[1, stride, stride, 1], padding='SAME') + B2)
stride = 2  # output is 7x7
Y3 = tf.nn.relu(tf.nn.conv2d(Y2, W3, strides=[1, stride, stride, 1], padding='SAME') + B3)

# reshape the output from the third convolution for the fully connected layer
YY = tf.reshape(Y3, shape=[-1, 7 * 7 * M])

Y4 = tf.nn.relu(tf.matmul(YY, W4) + B4)
YY4 = tf.nn.dropout(Y4, rate=1 - pkeep)
Ylogits = tf.matmul(YY4, W5) + B5
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


datavis.animate(training_step, iterations=10000 + 1, train_data_update_freq=20, test_data_update_freq=100,
                more_tests_at_start=True)

# to train without the panels, run with --text (the same lines print; nothing draws)

print("max test accuracy: " + str(datavis.get_max_test_accuracy()))

# Measured on this code: see the README's table (python3 benchmarks/ladder.py).
