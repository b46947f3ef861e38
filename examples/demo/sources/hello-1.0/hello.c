#include <stdio.h>
#include <demo.h>

int main(void)
{
    printf("Hello from mason's demo, built with %s\n", demo_greeting());
    return 0;
}
