# Copied verbatim from the Exist API v2 guide, guide/write_client.md (Hello Code).
# tests/mock/test_guide_examples.py runs it against mock-exist, changing only the host
# and filling in the token/client placeholders.
import requests, json

TOKEN = '[your_token]'

def make_update(attribute, date, value):
    return {'name': attribute, 'date': date, 'value': value}

def update_attributes(token, updates):
    # make the json string to send to Exist
    body = json.dumps(updates)

    # make the POST request, sending the json as the POST body
    # we need a content-type header so Exist knows it's json
    response = requests.post("https://exist.io/api/2/attributes/update/", 
        data=body,
        headers={'Authorization':f'Bearer {token}',
                 'Content-type':'application/json'})

    if response.status_code == 200:
        # a 200 status code indicates a successful outcome
        print("Updated successfully.")
    else:
        # print the error if something went wrong
        data = response.json()
        print("Error:", data)

# when we run this script, execution will start here
print("UPDATE PAGES READ")
# ask for our inputs. date can stay as a string
date = input("Date (yyyy-mm-dd format): ")
# but we turn our returned value into an integer type
value = int(input("Value (integer): "))

# make an update object to send
update = make_update("pages_read", date, value)

# call the function with the array of updates we've made
update_attributes(TOKEN, [update])
