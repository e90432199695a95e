// Command fmt adds fmt (reflect, strconv), which BurntSushi/toml needs.
package main

import (
	"fmt"
	"os"
)

func main() { fmt.Println(os.Args) }
