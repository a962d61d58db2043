print("zcache-sim")
