// Command hello is the size floor of any Go program: the runtime and os.
package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
