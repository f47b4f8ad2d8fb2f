"""The course's explanations in our words: `course.py tour` (the six panels and the keys), `course.py walk`
(step 1.0, line by line) and `course.py notes` (where the scripts differ from the course's text, and why).

The facts are printed from where they live: the panels' names from visualiser/panels.py's TITLES (read
with ast, so that numpy is not imported to print a title), the keys from the README's table, the code of
the walk-through from mnist_1.0_softmax.py itself. Only the explanations are written here. Standard library
only.
"""
import ast
import os
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What to read in each panel (by the number visualiser/panels.py gives it).
PANELS = {
    1: "Training accuracy (one batch of 100 at a time: a ragged line) and test accuracy (all 10,000 test digits: "
       "the dots). The gap between them is what the network learned by heart and cannot use on new digits.",
    2: "The same two for the loss. A test loss that turns upwards while the training loss still falls is "
       "overfitting; a loss that vanishes from the panel has become NaN.",
    3: "The batch the network is learning from right now. A red cell is a mistake: the right answer small on "
       "the left, the network's answer on the right.",
    4: "How the weights spread out: each shaded band holds a seventh of them. Weights that stay a thin line at "
       "zero are not learning.",
    5: "The same for the biases (with batch norm, its offsets). With ReLU they start at 0.1.",
    6: "A thousand test digits, the mistakes first. The scale on the left reads as the test accuracy at the "
       "line where the red stops.",
}

# Step 1.0 read line by line: (text found in the line, what it does)
WALK = [
    ("X = tf.placeholder(", "A placeholder is a slot in the graph for data given at run time. X takes a batch "
                            "of images: None is the batch size, left open, then 28x28 pixels and 1 channel."),
    ("Y_ = tf.placeholder(", "The right answers for the same batch, one-hot: ten numbers per image, a 1 at the "
                             "correct digit."),
    ("W = tf.Variable(", "A variable is a value TensorFlow keeps between steps and training changes: W holds a "
                         "weight for every pixel and every class, 784 x 10."),
    ("b = tf.Variable(", "One bias per class, added to its weighted sum."),
    ("XX = tf.reshape(", "A dense layer sees a flat line of 784 pixels, so each image is reshaped into one row."),
    ("Y = tf.nn.softmax(", "The model in one line: the batch times the weights plus the biases gives ten scores "
                           "per image; softmax turns them into ten probabilities that add up to 1."),
    ("cross_entropy = ", "The loss: how far the probabilities are from the right answers (the log of the "
                         "probability given to the right digit, negated). Training pushes it down."),
    ("correct_prediction = ", "The answer is the most probable class (argmax); this compares it with the right "
                              "one for every image ..."),
    ("accuracy = ", "... and the share of right answers is the accuracy the panels show."),
    ("train_step = ", "The optimiser: minimize() adds to the graph the operations that compute the loss's "
                      "gradient and move every variable a little against it. Nothing has run yet."),
    ("sess = tf.Session()", "Until now the script only described a graph. A Session runs it ..."),
    ("sess.run(init)", "... and the first thing it runs gives every variable its starting value."),
    ("batch_X, batch_Y = ", "Each iteration takes the next 100 training digits and their answers."),
    ("feed_dict={X: batch_X", "sess.run computes what it is asked for; feed_dict puts this batch into the "
                              "placeholders X and Y_ for that one run."),
    ("sess.run(train_step", "This run is the learning: one step of gradient descent on this batch."),
    ("datavis.animate(", "The visualiser calls training_step once per iteration, and tells it when to measure "
                         "and show the training batch and the test set."),
]

# Where the scripts differ from the course's text, and why.
DIFFERENCES = [
    ("Step 1.0's learning rate is 0.005, the text's 0.003.",
     "The text sums the cross-entropy over the batch. The script takes the mean over the batch and the ten "
     "classes and multiplies it by 1,000, which is the same sum; the original script trained it at 0.005, "
     "a slightly longer step, and so does ours."),
    ("An epoch is 600 iterations, where the text says 500.",
     "An epoch is one pass over the training set: 60,000 digits in batches of 100 is 600 iterations, and the "
     "epoch the scripts print counts that way."),
    ("The loss is tf.nn.softmax_cross_entropy_with_logits_v2.",
     "The text names the first version, which TensorFlow has deprecated. The two compute the same loss from the "
     "logits; _v2 would also send gradients into the labels, and here the labels are fed data, so nothing "
     "changes."),
    ("Dropout is tf.nn.dropout(Y, rate=1 - pkeep).",
     "The text passes the probability of keeping a neuron. TensorFlow 2's dropout takes the opposite, the share "
     "dropped; the scripts keep the course's placeholder pkeep and hand dropout 1 - pkeep."),
    ("padding='SAME' pads with zeros.",
     "The text describes SAME padding as repeating the image's border. TensorFlow adds zeros around the image, "
     "so that each output keeps the input's size at stride 1. An MNIST digit's border is blank (zero) anyway, "
     "so on these images the two descriptions give the same result."),
]


def titles(path=None):
    """{panel number: title} from visualiser/panels.py's TITLES, read without importing the module."""
    path = path or os.path.join(ROOT, "visualiser", "panels.py")
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TITLES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"no TITLES in {path}")


def keys_table(path=None):
    """[(key, what it does)] from the README's table of keys."""
    path = path or os.path.join(ROOT, "README.md")
    rows, inside = [], False
    for line in open(path):
        if line.startswith("| key | does |"):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            rows.append(tuple(cell.strip() for cell in line.strip().strip("|").split("|", 1)))
        elif inside and not line.startswith("|"):
            break
    return rows


def wrap(text, indent):
    return textwrap.fill(text, 100, initial_indent=indent, subsequent_indent=" " * len(indent))


def tour():
    print("The six panels, numbered as the keys number them (a 2 x 3 grid, read row by row):\n")
    for n, title in titles().items():
        print(f"{n}. {title}")
        print(wrap(PANELS.get(n, ""), "   "))
    print("\nThe keys (in the window, on the --web page, as buttons in a notebook):\n")
    rows = keys_table()
    width = max((len(k) for k, _ in rows), default=0)
    for key, does in rows:
        print(f"  {key.ljust(width)}  {does}")
    print("\nTry it: python3 mnist_1.0_softmax.py, then press 2, 6 and 0.")


def walk(script):
    lines = open(os.path.join(ROOT, script)).read().splitlines()
    print(f"Step 1.0, line by line ({script}):\n")
    at = 0
    for anchor, text in WALK:
        found = next((k for k in range(at, len(lines)) if anchor in lines[k]), None)
        if found is None:
            raise ValueError(f"the walk-through's line {anchor!r} is not in {script}")
        print(f"{found + 1:4}  {lines[found].strip()}")
        print(wrap(text, "      ") + "\n")
        at = found
    print("Then: python3 course.py 1.0 (the lesson), python3 course.py tour (the panels).")


def notes():
    print("Where the scripts differ from the course's text, and why:\n")
    for what, why in DIFFERENCES:
        print(wrap(what, "- "))
        print(wrap(why, "  ") + "\n")
