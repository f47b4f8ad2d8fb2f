# Step 1.0 of "TensorFlow and deep learning, without a PhD": one layer of 10 softmax neurons.
# Every pixel of a digit votes for each of the ten classes with a learned weight; softmax turns the ten
# sums into probabilities. Run: python3 mnist_1.0_softmax.py  (--text for no window, --help for all flags)
import tensorflowvisu  # the course's visualiser, and the flags every step takes (--help)
flags = tensorflowvisu.flags()  # first: --help and a mistyped flag answer before TensorFlow loads
import mnistdata
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()  # the course's TensorFlow 1 style: a graph, placeholders, a Session
tf.set_random_seed(flags.seed)

# neural network with 1 layer of 10 softmax neurons
#
# · · · · · · · · · ·       (input data, flattened pixels)       X [batch, 784]        # 784 = 28 * 28
# \x/x\x/x\x/x\x/x\x/    -- fully connected layer (softmax)      W [784, 10]     b[10]
#   · · · · · · · ·                                              Y [batch, 10]
#
# The model is:
#   Y = softmax( X * W + b )
#   X: 100 images of 28x28 grey pixels, flattened (one row per image; 100 is the mini-batch size)
#   W: weight matrix, 784 rows and 10 columns;  b: bias vector, 10 values
#   +: adds b to every row;  softmax works row by row;  Y: 100 rows of 10 probabilities

mnist = mnistdata.read_data_sets(flags.data_dir, one_hot=True, reshape=False, seed=flags.seed)

# input X: 28x28 greyscale images; the first dimension (None) indexes the images of the mini-batch
X = tf.placeholder(tf.float32, [None, 28, 28, 1])
# correct answers go here
Y_ = tf.placeholder(tf.float32, [None, 10])

W = tf.Variable(tf.zeros([784, 10]))  # one layer only: starting from zeros is fine
b = tf.Variable(tf.zeros([10]))

# the model
XX = tf.reshape(X, [-1, 784])  # flatten the images into one line of pixels each
Y = tf.nn.softmax(tf.matmul(XX, W) + b)

# loss: cross-entropy = - sum( Y_i * log(Y_i) ). reduce_mean averages over the batch AND the 10 classes,
# so *1000 makes it the sum over a batch of 100 images. Careful: log(softmax) gives NaN once a probability
# underflows to 0; this one layer is safe at this learning rate, and step 2.0 shows the proper cure.
cross_entropy = -tf.reduce_mean(Y_ * tf.log(Y)) * 1000.0

# accuracy of the trained model, between 0 (worst) and 1 (best)
correct_prediction = tf.equal(tf.argmax(Y, 1), tf.argmax(Y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

# training: plain gradient descent, learning rate 0.005
train_step = tf.train.GradientDescentOptimizer(0.005).minimize(cross_entropy)

# for the panels: every weight, every bias, and the digits as images with the mistakes marked
allweights = tf.reshape(W, [-1])
allbiases = tf.reshape(b, [-1])
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

    # compute training values for the panels
    if update_train_data:
        a, c, im, w, b = sess.run([accuracy, cross_entropy, I, allweights, allbiases],
                                  feed_dict={X: batch_X, Y_: batch_Y})
        datavis.append_training_curves_data(i, a, c)
        datavis.append_data_histograms(i, w, b)
        datavis.update_image1(im)
        print(str(i) + ": accuracy:" + str(a) + " loss: " + str(c))

    # compute test values for the panels: on all 10,000 test digits
    if update_test_data:
        a, c, im = sess.run([accuracy, cross_entropy, It],
                            feed_dict={X: mnist.test.images, Y_: mnist.test.labels})
        datavis.append_test_curves_data(i, a, c)
        datavis.update_image2(im)
        print(str(i) + ": ********* epoch " + str(i * 100 // mnist.train.images.shape[0] + 1) +
              " ********* test accuracy:" + str(a) + " test loss: " + str(c))

    # the backpropagation training step
    sess.run(train_step, feed_dict={X: batch_X, Y_: batch_Y})


datavis.animate(training_step, iterations=flags.iterations or 2000 + 1, train_data_update_freq=10,
                test_data_update_freq=50, more_tests_at_start=True)

# to train without the panels, run with --text (the same lines print; nothing draws)

print("max test accuracy: " + str(datavis.get_max_test_accuracy()))

# Measured on this code: max test accuracy 0.92xx at 2,000 iterations (python3 benchmarks/ladder.py).
