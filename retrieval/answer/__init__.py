"""Answer: read the retrieved sentences (the hand-fitted scorer or the learned reader), compose a
cited answer or abstain, rewrite follow-ups, or ask an LLM.
"""
